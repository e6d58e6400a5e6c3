"""Applications built from the library's parts, one module each, exposed by thin ``cli`` subcommands (the demo)."""
