package hlc

import "testing"

func FuzzParse(f *testing.F) {
	f.Add("0000018c2f3a4b5c00000000deadbeef")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if again, err := Parse(v.String()); err != nil || again != v {
			t.Fatalf("%q parsed to %v, whose text %q parses to %v, %v", s, v, v.String(), again, err)
		}
	})
}
