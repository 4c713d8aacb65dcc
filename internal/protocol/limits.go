package protocol

// Limits bounds what a decoder accepts. A zero field means "use the
// default"; see DefaultLimits.
type Limits struct {
	// MaxKeyBytes bounds the length of a key in bytes. Default 4096.
	MaxKeyBytes int
	// MaxValueBytes bounds the encoded size of one value. Default 1 MiB.
	MaxValueBytes int
	// MaxMessageBytes bounds the size of one request message. Default 16 MiB.
	MaxMessageBytes int
	// MaxBatchOps bounds the number of operations in one BATCH. Default 10000.
	MaxBatchOps int
	// MaxScanLimit bounds the page size of one SCAN. Default 10000.
	MaxScanLimit int
}

// Default limits.
const (
	DefaultMaxKeyBytes     = 4 << 10
	DefaultMaxValueBytes   = 1 << 20
	DefaultMaxMessageBytes = 16 << 20
	DefaultMaxBatchOps     = 10000
	DefaultMaxScanLimit    = 10000
	// DefaultScanLimit is the page size of a SCAN that gives no limit.
	DefaultScanLimit = 1000
	// MaxIDBytes bounds the encoded size of a request "id".
	MaxIDBytes = 256
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxKeyBytes:     DefaultMaxKeyBytes,
		MaxValueBytes:   DefaultMaxValueBytes,
		MaxMessageBytes: DefaultMaxMessageBytes,
		MaxBatchOps:     DefaultMaxBatchOps,
		MaxScanLimit:    DefaultMaxScanLimit,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxKeyBytes == 0 {
		l.MaxKeyBytes = d.MaxKeyBytes
	}
	if l.MaxValueBytes == 0 {
		l.MaxValueBytes = d.MaxValueBytes
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxBatchOps == 0 {
		l.MaxBatchOps = d.MaxBatchOps
	}
	if l.MaxScanLimit == 0 {
		l.MaxScanLimit = d.MaxScanLimit
	}
	return l
}
