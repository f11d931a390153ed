"""The worker's composition root: the faust app, its agents and the `kilowatch worker` command."""
