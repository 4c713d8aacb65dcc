// Package storetest holds the checks that the tests of every store engine
// share: reading and deleting a whole range page by page through the paged
// methods of store.Store.
package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/store"
)

// maxPages bounds a paged walk, so that a store whose cursor does not
// advance fails the test instead of looping.
const maxPages = 1_000_000

// CollectPages calls scan from the start until a page is Done and returns
// every entry, checking that no page holds more than limit entries (when
// limit > 0), that a page that is not Done advances, and that its cursor
// survives its string form (the wire).
func CollectPages(t testing.TB, limit int, scan func(store.Cursor) (store.Page, error)) []store.Entry {
	t.Helper()
	var all []store.Entry
	var c store.Cursor
	for pages := 0; ; pages++ {
		require.Less(t, pages, maxPages)
		p, err := scan(c)
		require.NoError(t, err)
		if limit > 0 {
			require.LessOrEqual(t, len(p.Entries), limit)
		}
		all = append(all, p.Entries...)
		if p.Done {
			return all
		}
		require.NotEmpty(t, p.Entries, "a page that is not Done must advance")
		c, err = store.ParseCursor(p.Next.String())
		require.NoError(t, err)
		require.Equal(t, p.Next, c)
	}
}

// DeletePages calls del from the start until it reports done and returns
// the number of keys deleted, checking that no call deletes more than limit
// keys and that a call that is not done deleted some.
func DeletePages(t testing.TB, limit int, del func(store.Cursor) (n int, next store.Cursor, done bool, err error)) int {
	t.Helper()
	total := 0
	var c store.Cursor
	for pages := 0; ; pages++ {
		require.Less(t, pages, maxPages)
		n, next, done, err := del(c)
		require.NoError(t, err)
		require.LessOrEqual(t, n, limit)
		total += n
		if done {
			return total
		}
		require.Positive(t, n)
		c = next
	}
}
