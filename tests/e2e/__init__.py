"""End-to-end tests: real rt and rt serve processes over loopback sockets."""
