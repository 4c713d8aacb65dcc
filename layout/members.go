package layout

import "slices"

// Initial returns the members recorded for a cluster that has no layout yet
// (Settings.Members empty): every node with an add signal (up) and every
// node registered in the service whatever its health, less the nodes
// signalled removed, sorted. The result is the intended membership: from
// then on a node that fails is skipped, not replaced, and only add-node and
// remove-node change the members.
func Initial(up, registered, removed []string) []string {
	out := make([]string, 0, len(up)+len(registered))
	for _, names := range [][]string{up, registered} {
		for _, n := range names {
			if n != "" && !slices.Contains(removed, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
