package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints one aligned table per algorithm.
func WriteText(w io.Writer, res Result) error {
	c := res.Config
	fmt.Fprintf(w, "keys=%d trials=%d vnodes=%s partitions=%s replicas=%d\n",
		c.Keys, c.Trials, orDefault(c.VNodes), orDefault(c.Partitions), c.Replicas)
	for _, alg := range c.Algorithms {
		fmt.Fprintf(w, "\n%s\n", alg)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "mode\tnodes\tlookup ns/op\tallocs/op\tprefs ns/op\tbuild ms\tmem KiB\tpeak/mean\tmin/mean\tstddev/mean\tadd moved/opt\t(max)\tremove moved/opt\t(max)\tsurvivor moves\t")
		for _, r := range res.Rows {
			if r.Algorithm != alg {
				continue
			}
			prefs := "-"
			if r.PrefsNs > 0 {
				prefs = fmt.Sprintf("%.1f", r.PrefsNs)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%s\t%.1f\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n",
				r.Mode, r.Nodes, r.LookupNs, r.LookupAllocs, prefs, r.BuildMs, r.MemBytes/1024,
				r.PeakMean, r.MinMean, r.StdDevMean, r.AddMoved, r.AddMovedMax, r.RemoveMoved, r.RemoveMovedMax, r.SurvivorMoves)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "\nmoved/opt: keys moved as a fraction of all keys, over the optimum 1/(n+1) on add and 1/n on remove (mean of the trials, then the worst).")
	return err
}

func orDefault(v int) string {
	if v == 0 {
		return "default"
	}
	return fmt.Sprint(v)
}

// WriteJSON writes res as indented JSON.
func WriteJSON(w io.Writer, res Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
