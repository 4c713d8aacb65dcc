// Package compare measures placement algorithms of package sharding side by
// side on one key set: lookup cost, build cost, memory, balance and movement
// on add and remove. It backs the `client_producer compare` command; it
// prints tables, JSON and plots but does no network I/O.
package compare
