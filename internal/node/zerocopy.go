package node

/*
#cgo !windows pkg-config: libzmq
#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

// A ticket learns when ZeroMQ releases a message sent with zs_send: once it
// has written the message to the peer's connection, or dropped it.
typedef struct { int done; } zs_ticket;

// zs_free runs on a ZeroMQ I/O thread (or in zs_send) when the message is
// released.
static void zs_free(void *data, void *hint) {
	free(data);
	__atomic_store_n(&((zs_ticket *)hint)->done, 1, __ATOMIC_RELEASE);
}

// zs_send sends data (malloc'd; ZeroMQ owns it from here on) as the last
// frame of a message, without copying it. On error errno is ZeroMQ's.
static int zs_send(void *sock, void *data, size_t size, zs_ticket *t, int flags) {
	zmq_msg_t msg;
	if (zmq_msg_init_data(&msg, data, size, zs_free, t) != 0) {
		int e = errno;
		zs_free(data, t);
		errno = e;
		return -1;
	}
	int rc = zmq_msg_send(&msg, sock, flags);
	if (rc < 0) {
		int e = errno;
		zmq_msg_close(&msg);
		errno = e;
	}
	return rc;
}

static int zs_done(zs_ticket *t) { return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE); }
*/
import "C"

import (
	"syscall"
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// Large replies leave the node without a copy, from memory the node
// allocates with malloc and ZeroMQ frees once the message is written to the
// peer's connection (or dropped): the node learns of it through a ticket
// and only then returns the reply's bytes to the budget. ZeroMQ would
// otherwise copy each reply and give no sign of when it is gone.

// cReply is an encoded reply in C memory, not yet handed to ZeroMQ.
type cReply struct {
	data unsafe.Pointer
	size int
}

// newCReply copies b into C memory.
func newCReply(b []byte) cReply {
	p := C.malloc(C.size_t(max(len(b), 1)))
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	return cReply{data: p, size: len(b)}
}

// free releases a reply that is not sent.
func (r *cReply) free() {
	if r.data != nil {
		C.free(r.data)
		r.data = nil
	}
}

// ticket tells when ZeroMQ released a reply sent with sendOwned.
type ticket struct{ t *C.zs_ticket }

// done reports whether the reply is written or dropped.
func (t ticket) done() bool { return C.zs_done(t.t) != 0 }

// free releases the ticket; call it once done.
func (t ticket) free() { C.free(unsafe.Pointer(t.t)) }

// socketHandle returns the libzmq socket of s. zmq4.Socket keeps it, as an
// unsafe.Pointer, in its first field (github.com/pebbe/zmq4 v1.4.0, go.mod);
// TestSendOwned checks a message sent through it arrives.
func socketHandle(s *zmq.Socket) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(s))
}

// sendOwned sends envelope and then body as one message without waiting,
// handing body's memory to ZeroMQ. The ticket reports when ZeroMQ releases
// it; it is done at once when the message could not be queued.
func sendOwned(s *zmq.Socket, envelope [][]byte, body cReply) (ticket, error) {
	t := ticket{(*C.zs_ticket)(C.calloc(1, C.size_t(unsafe.Sizeof(C.zs_ticket{}))))}
	for _, f := range envelope {
		if _, err := s.SendBytes(f, zmq.SNDMORE|zmq.DONTWAIT); err != nil {
			body.free()
			t.t.done = 1
			return t, err
		}
	}
	rc, err := C.zs_send(socketHandle(s), body.data, C.size_t(body.size), t.t, C.int(zmq.DONTWAIT))
	if rc < 0 {
		if errno, ok := err.(syscall.Errno); ok {
			return t, zmq.Errno(errno)
		}
		return t, err
	}
	return t, nil
}
