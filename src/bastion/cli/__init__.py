"""The `bastion` command line: a view over the services, holding no logic of its own."""
