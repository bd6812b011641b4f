package ops

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScripts runs testdata/*.test: small scripts that load series,
// evaluate operations and expect Gnocchi's JSON or an error. Lines:
//
//	load <metric> <aggregation> <granularity s> <first timestamp> <values...>
//	clear
//	eval [granularity=S] [start=TS] [stop=TS] [needed_overlap=P] [fill=F] <operations>
//	<expected JSON, or "error: <part of the reason>">
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.test")
	if len(files) == 0 {
		t.Fatal("no testdata/*.test scripts")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file) })
	}
}

func parseTS(t *testing.T, where, s string) int64 {
	tm, err := time.Parse("2006-01-02T15:04:05", s)
	if err != nil {
		t.Fatalf("%s: bad timestamp %q", where, s)
	}
	return tm.UnixNano()
}

func runScript(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var loaded []Input
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		where := file + ":" + strconv.Itoa(lineNo)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "clear":
			loaded = nil
		case "load":
			fs := strings.Fields(rest)
			if len(fs) < 4 {
				t.Fatalf("%s: load needs metric, aggregation, granularity, first timestamp", where)
			}
			g, err := strconv.ParseFloat(fs[2], 64)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var vals []float64
			for _, v := range fs[4:] {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				vals = append(vals, x)
			}
			s := ser(int64(g*1e9), parseTS(t, where, fs[3]), vals...)
			r := ref(fs[0], fs[1])
			found := false
			for i := range loaded {
				if loaded[i].Ref == r {
					loaded[i].Series = append(loaded[i].Series, s)
					found = true
				}
			}
			if !found {
				loaded = append(loaded, Input{Ref: r, Series: []Series{s}})
			}
		case "eval":
			var o Options
			for strings.Contains(strings.SplitN(rest, " ", 2)[0], "=") {
				kv, more, _ := strings.Cut(rest, " ")
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "granularity":
					g, _ := strconv.ParseFloat(v, 64)
					o.Granularity = int64(g * 1e9)
				case "start":
					o.Start = i64(parseTS(t, where, v))
				case "stop":
					o.Stop = i64(parseTS(t, where, v))
				case "needed_overlap":
					p, _ := strconv.ParseFloat(v, 64)
					o.NeededOverlap = &p
				case "fill":
					if o.Fill, err = ParseFill(v); err != nil {
						t.Fatalf("%s: %v", where, err)
					}
				default:
					t.Fatalf("%s: unknown option %q", where, k)
				}
				rest = more
			}
			if !sc.Scan() {
				t.Fatalf("%s: eval without an expected result", where)
			}
			lineNo++
			want := strings.TrimSpace(sc.Text())
			got := scriptEval(rest, loaded, o)
			if strings.HasPrefix(want, "error: ") {
				if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, strings.TrimPrefix(want, "error: ")) {
					t.Errorf("%s: eval %s\n got %s\nwant %s", where, rest, got, want)
				}
			} else if got != want {
				t.Errorf("%s: eval %s\n got %s\nwant %s", where, rest, got, want)
			}
		default:
			t.Fatalf("%s: unknown command %q", where, word)
		}
	}
}

func scriptEval(ops string, loaded []Input, o Options) string {
	var n Node
	var err error
	if strings.HasPrefix(ops, "[") {
		n, err = ParseJSON([]byte(ops))
	} else {
		n, err = ParseString(ops)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	r, err := Eval(context.Background(), n, referenced(n, loaded), o)
	if err != nil {
		return "error: " + err.Error()
	}
	b, _ := r.MarshalJSON()
	return string(b)
}
