"""Trained forecasters and detectors (darts: LightGBM, TiDE, LSTM, TFT; torch autoencoder).

Public API in ``trainers.backend`` (the shared contract); ``kilowatch backtest`` in ``trainers.backtest``.
Workers keep the online model in ``stream_app.core.online`` for assets without a trained model."""
