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
	return Limits{
		MaxKeyBytes:     orDefault(l.MaxKeyBytes, DefaultMaxKeyBytes),
		MaxValueBytes:   orDefault(l.MaxValueBytes, DefaultMaxValueBytes),
		MaxMessageBytes: orDefault(l.MaxMessageBytes, DefaultMaxMessageBytes),
		MaxBatchOps:     orDefault(l.MaxBatchOps, DefaultMaxBatchOps),
		MaxScanLimit:    orDefault(l.MaxScanLimit, DefaultMaxScanLimit),
	}
}

// orDefault returns v, or d when v is 0.
func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
