"""Trained forecasters and detectors (darts, LightGBM, torch): not built yet — see the issue
"Trainers, model registry, retraining agent and hot reload". Workers use the online model in
``stream_app.core.online`` for every asset until then."""
