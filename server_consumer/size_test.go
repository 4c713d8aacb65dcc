package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "64KiB": 64 << 10, "512MiB": 512 << 20, "2GiB": 2 << 30} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "1TiB", "9999999999GiB"} {
		_, err := parseSize(in)
		require.Error(t, err, in)
	}
	f := nodeFlags{memoryBudget: "512KiB"}
	_, err := f.budget()
	require.ErrorContains(t, err, "at least 1MiB")
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "512MiB", "2GiB", "64KiB", "-1", "9999999999GiB", " 1 MiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}
