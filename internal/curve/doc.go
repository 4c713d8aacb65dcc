// Package curve holds what zshard needs of ZeroMQ's CURVE security
// (authentication and encryption, RFC 26): key files, the allowlists of
// client keys a node accepts, the ZAP handler that applies them, and the
// client side's options and handshake check.
//
// Keys are Z85 text (40 characters for 32 bytes), stored one per file:
// PREFIX.pub holds a public key, PREFIX.secret its secret key (mode 0600).
// A node is a CURVE server with its own keypair; it admits exactly the
// public keys found as *.pub in its clients directory and its admins
// directory (RoleClient, RoleAdmin), plus its own public key (RoleAdmin,
// so that nodes sharing a key reach one another). The ZAP handler names the
// client by its public key in the ZAP user id, which the node reads back
// as the "User-Id" property of every message and looks up in the current
// allowlist: a key removed from the directories stops being served even on
// a connection opened before.
//
// Threading: an Allowlist is safe for concurrent use (an immutable snapshot
// swapped atomically). A ZAP handler's socket is owned by the one goroutine
// that runs Serve.
package curve
