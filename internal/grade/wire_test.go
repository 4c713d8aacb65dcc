package grade

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseGetAll(t *testing.T) {
	got, err := parseGetAll([]byte(`{"status":"OK","collection":[{"key":"k","value":"v"},{"key":"ключ","value":{"a":1}}]}`))
	require.NoError(t, err)
	assert.True(t, sameString(got["k"], "v"))
	assert.JSONEq(t, `{"a":1}`, string(got["ключ"]))

	got, err = parseGetAll([]byte(`{"collection":[]}`)) // the class spec's shape: no status
	require.NoError(t, err)
	assert.Empty(t, got)

	for in, want := range map[string]string{
		`{"status":"OK"}`: `without "collection"`,
		`{"status":"error","error":"too_large","message":"m"}`:         `answered status "error"`,
		`{"collection":[{"key":"k","value":1},{"key":"k","value":2}]}`: `returned key "k" twice`,
		`[]`: `is not {"collection"`,
	} {
		_, err := parseGetAll([]byte(in))
		assert.ErrorContains(t, err, want, in)
	}
}

func TestReplyShapes(t *testing.T) {
	r, err := decodeReply([]byte(`{"status":"error","error":"not_found","message":"key \"k\" not found"}`))
	require.NoError(t, err)
	assert.NoError(t, r.errorShape("not_found"))
	assert.ErrorContains(t, r.errorShape("bad_request"), `want error "bad_request"`)
	assert.Error(t, r.statusOK())

	r, err = decodeReply([]byte(`{"error":"not found"}`))
	require.NoError(t, err)
	assert.ErrorContains(t, r.errorShape(""), `want "status":"error"`)

	r, err = decodeReply([]byte(`{"key":"k","value":"v"}`)) // the class spec's GET_ONE reply
	require.NoError(t, err)
	assert.NoError(t, checkGetOne(r, "k", "v"))
	assert.ErrorContains(t, checkGetOne(r, "k", "w"), `want {"key":"k","value":"w"}`)

	for _, in := range []string{``, `null`, `[1]`, `"x"`, `{`} {
		_, err := decodeReply([]byte(in))
		assert.Error(t, err, in)
	}
}

func TestSameContents(t *testing.T) {
	want := [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}}
	got, err := parseGetAll([]byte(`{"collection":[{"key":"a","value":"1"},{"key":"b","value":"9"},{"key":"z","value":"0"}]}`))
	require.NoError(t, err)
	err = sameContents(got, want)
	assert.EqualError(t, err, `3 entries, want 3; 1 keys missing (first "c"); 1 values differ (first "b" is "9", want "2"); 1 keys never written (first "z")`)
}

// FuzzReplies feeds the decoders of a server's replies arbitrary bytes: a
// student's server may answer anything, and the grader must report it,
// never panic.
func FuzzReplies(f *testing.F) {
	for _, s := range []string{
		`{"status":"OK","collection":[{"key":"k","value":"v"}]}`,
		`{"status":"error","error":"not_found","message":"m"}`,
		`{"key":"k","value":"v"}`, `{"collection":null}`, `{"collection":[null,1]}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := parseGetAll(b); err == nil {
			_ = sameContents(got, [][2]string{{"k", "v"}})
		}
		if r, err := decodeReply(b); err == nil {
			_ = r.errorShape("not_found")
			_ = r.statusOK()
			_ = checkGetOne(r, "k", "v")
			_ = r.String()
		}
	})
}
