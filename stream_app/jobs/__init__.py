"""Generic jobs (issue 17): the handler registry, the runner that claims and runs jobs off the request
path, and the catalog of job types."""
