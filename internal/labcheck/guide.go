package labcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Step is one command of a console block and the output the guide shows
// after it.
type Step struct {
	Cmd  string
	Want []string
}

// Block is a ```console block with the directives written before it.
type Block struct {
	Start, End int // 0-based lines of the opening and the closing fence
	Line       int // 1-based line of the first command, for messages
	Skip       bool
	Background bool
	Masks      []*regexp.Regexp
	Steps      []Step
}

// Action is a standalone directive (Directive "ctrl-c" or "wait-passing",
// with its argument) or a Block, in the guide's order.
type Action struct {
	Directive, Arg string
	Line           int // 1-based
	Block          *Block
}

var directiveRE = regexp.MustCompile(`^<!--\s*lab-check:\s*(\S+)\s*(.*?)\s*-->\s*$`)

// ParseGuide reads the console blocks and lab-check directives of a guide
// (see the package comment).
func ParseGuide(lines []string) ([]Action, error) {
	var (
		acts    []Action
		pending Block
		pendAt  int // line of the first directive waiting for its block
	)
	for i := 0; i < len(lines); i++ {
		if m := directiveRE.FindStringSubmatch(lines[i]); m != nil {
			switch m[1] {
			case "skip":
				pending.Skip = true
			case "background":
				pending.Background = true
			case "mask":
				re, err := regexp.Compile(m[2])
				if err != nil {
					return nil, fmt.Errorf("line %d: mask: %w", i+1, err)
				}
				pending.Masks = append(pending.Masks, re)
			case "ctrl-c", "wait-passing":
				if m[2] == "" {
					return nil, fmt.Errorf("line %d: %s needs an argument", i+1, m[1])
				}
				acts = append(acts, Action{Directive: m[1], Arg: m[2], Line: i + 1})
				continue
			default:
				return nil, fmt.Errorf("line %d: unknown directive %q", i+1, m[1])
			}
			if pendAt == 0 {
				pendAt = i + 1
			}
			continue
		}
		fence := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(fence, "```") {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: code block not closed", i+1)
		}
		if fields := strings.Fields(strings.TrimPrefix(fence, "```")); len(fields) == 0 || fields[0] != "console" {
			if pendAt != 0 {
				return nil, fmt.Errorf("line %d: directive for a block that is not ```console (line %d)", pendAt, i+1)
			}
			i = end
			continue
		}
		b := pending
		pending, pendAt = Block{}, 0
		b.Start, b.End = i, end
		for j := i + 1; j < end; j++ {
			l := lines[j]
			if cmd, ok := strings.CutPrefix(l, "$ "); ok {
				if b.Line == 0 {
					b.Line = j + 1
				}
				for strings.HasSuffix(cmd, "\\") && j+1 < end {
					j++
					cmd += "\n" + lines[j]
				}
				b.Steps = append(b.Steps, Step{Cmd: cmd})
				continue
			}
			if len(b.Steps) == 0 {
				return nil, fmt.Errorf("line %d: output before the first command of a console block", j+1)
			}
			b.Steps[len(b.Steps)-1].Want = append(b.Steps[len(b.Steps)-1].Want, l)
		}
		acts = append(acts, Action{Block: &b, Line: i + 1})
		i = end
	}
	if pendAt != 0 {
		return nil, fmt.Errorf("line %d: directive without a console block after it", pendAt)
	}
	return acts, nil
}

// Rewrite returns the guide with the output of every block in outputs
// replaced by the given lines (one slice per step).
func Rewrite(lines []string, acts []Action, outputs map[*Block][][]string) string {
	var out []string
	next := 0
	for _, a := range acts {
		b := a.Block
		if b == nil || outputs[b] == nil {
			continue
		}
		out = append(out, lines[next:b.Start+1]...)
		for i, s := range b.Steps {
			out = append(out, "$ "+s.Cmd)
			out = append(out, outputs[b][i]...)
		}
		next = b.End
	}
	out = append(out, lines[next:]...)
	return strings.Join(out, "\n")
}

// DefaultMasks are the volatile parts of any output: log timestamps, pids,
// rates and durations.
var DefaultMasks = []*regexp.Regexp{
	regexp.MustCompile(`time=\S+`),
	regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?`),
	regexp.MustCompile(`pid=\d+`),
	regexp.MustCompile(`\d[\d.]*\s*[kKM]?(?:keys|ops|msg|B|KiB|MiB)?/s\b`),
	regexp.MustCompile(`\b\d[\d.]*(?:ms|µs|us|ns|h|m|s)(?:\d[\d.]*(?:ms|µs|us|ns|m|s))*\b`),
}

// Mask replaces what each regexp's groups cover (or its whole match, if it
// has none) with "~", and collapses runs of white space, so that columns
// realigned around a shorter number still compare equal.
func Mask(line string, res []*regexp.Regexp) string {
	for _, re := range res {
		line = re.ReplaceAllStringFunc(line, func(m string) string {
			sub := re.FindStringSubmatchIndex(m)
			if len(sub) <= 2 {
				return "~"
			}
			var b strings.Builder
			last := 0
			for g := 2; g < len(sub); g += 2 {
				if sub[g] < 0 {
					continue
				}
				b.WriteString(m[last:sub[g]])
				b.WriteString("~")
				last = sub[g+1]
			}
			b.WriteString(m[last:])
			return b.String()
		})
	}
	return strings.Join(strings.Fields(line), " ")
}

// Normalize masks every line and drops trailing empty ones.
func Normalize(lines []string, res []*regexp.Regexp) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, Mask(l, res))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// SplitOutput splits a command's output into lines as a terminal shows
// them: a line redrawn with \r keeps its last state, trailing spaces go.
func SplitOutput(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		l = strings.TrimRight(l, " \r")
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		out = append(out, l)
	}
	return out
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// Ports maps the guide's default loopback ports (8500, 2000+i, 2100+i) to
// the checker's private ones.
type Ports map[int]int

func (p Ports) apply(s string, m map[int]int) string {
	return portRE.ReplaceAllStringFunc(s, func(hit string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(hit, "127.0.0.1:"))
		if to, ok := m[n]; ok {
			return "127.0.0.1:" + strconv.Itoa(to)
		}
		return hit
	})
}

// ToPrivate rewrites 127.0.0.1:<default port> in s to the private port.
func (p Ports) ToPrivate(s string) string { return p.apply(s, p) }

// ToGuide rewrites 127.0.0.1:<private port> in s back to the default.
func (p Ports) ToGuide(s string) string {
	rev := make(map[int]int, len(p))
	for k, v := range p {
		rev[v] = k
	}
	return p.apply(s, rev)
}
