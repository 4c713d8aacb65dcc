package proc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseStatCPU(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	const tail = " S 1 1 1 0 -1 4194560 100 0 0 0 250 37 5 6 20 0 9 0 1234 5678 90\n"
	for _, tc := range []struct {
		name, line string
		hz         int64
		want       time.Duration
	}{
		{"plain", "42 (redis-server)" + tail, 100, 2870 * time.Millisecond},
		{"name with spaces and parens", "42 (a ) b) (c)" + tail, 100, 2870 * time.Millisecond},
		{"other tick rate", "42 (x)" + tail, 1000, 287 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseStatCPU([]byte(tc.line), tc.hz)
			require.NoError(t, err)
			require.Equal(t, tc.want, d)
		})
	}
	for _, bad := range []string{"", "42 x S 1", "42 (x) S 1 1 1", "42 (x) S 1 1 1 0 -1 4 1 0 0 0 -5 3", "42 (x) S 1 1 1 0 -1 4 1 0 0 0 u 3"} {
		_, err := parseStatCPU([]byte(bad), 100)
		require.Error(t, err, "%q", bad)
	}
	_, err := parseStatCPU([]byte("42 (x)"+tail), 0)
	require.Error(t, err)
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("42 (redis-server) S 1 1 1 0 -1 4194560 100 0 0 0 250 37 5 6 20 0 9 0 1234 5678 90\n"), int64(100))
	f.Add([]byte("1 ((sd-pam)) S 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 1 0"), int64(100))
	f.Fuzz(func(t *testing.T, b []byte, hz int64) {
		d, err := parseStatCPU(b, hz)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v from %q", d, b)
		}
	})
}
