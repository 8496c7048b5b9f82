"""Controllers: glue between the engine (through background jobs) and the views."""
