"""What the routes call: the process's connections (resources), API keys and their store, the
training registry, job views and event streams, and the result queries. No routes, no Depends."""
