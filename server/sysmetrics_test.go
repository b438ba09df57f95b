package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// memFile returns the path of a file under testdata/memory ("" stays "").
func memFile(name string) string {
	if name == "" {
		return ""
	}
	return filepath.Join("testdata", "memory", name)
}

func TestSysmetricsMemoryLimit(t *testing.T) {
	const machine = 16 << 30 // meminfo-16g
	cases := []struct {
		name            string
		v2, v1, meminfo string
		want            int64
		why             string
	}{
		{"cgroup v2 limit", "cgroup-v2-512m", "cgroup-v1-1g", "meminfo-16g", 512 << 20, "v2 is read first"},
		{"cgroup v2 max falls back to the machine", "cgroup-v2-max", "cgroup-v1-1g", "meminfo-16g", machine, "max means no limit; v1 is not consulted"},
		{"cgroup v1 limit", "", "cgroup-v1-1g", "meminfo-16g", 1 << 30, "no v2 file"},
		{"cgroup v1 unlimited", "", "cgroup-v1-unlimited", "meminfo-16g", machine, "2^63 rounded to a page is no limit"},
		{"limit above the machine", "cgroup-v2-64g", "", "meminfo-16g", machine, "the machine is the real bound"},
		{"unparsable limit", "cgroup-bad", "cgroup-v1-1g", "meminfo-16g", machine, "garbage counts as no limit"},
		{"no cgroup files", "", "", "meminfo-16g", machine, "only the machine"},
		{"limit without meminfo", "cgroup-v2-512m", "", "", 512 << 20, "nothing to compare with"},
		{"meminfo without MemTotal", "", "", "meminfo-no-total", 0, "unreadable total"},
		{"nothing readable", "", "", "", 0, "0 means unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := memoryFiles{cgroupV2: memFile(c.v2), cgroupV1: memFile(c.v1), meminfo: memFile(c.meminfo)}
			if got := memoryLimit(files); got != c.want {
				t.Errorf("memoryLimit(%+v) = %d, want %d (%s)", files, got, c.want, c.why)
			}
		})
	}
}

// mustWriteFile writes n bytes to path, creating its directory.
func mustWriteFile(tb testing.TB, path string, n int) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestSysmetricsDirSize(t *testing.T) {
	dir := t.TempDir()
	// Non-zero bytes so no file system stores them sparse.
	for _, f := range []struct {
		path string
		n    int
	}{{"driftd.db", 64 << 10}, {"kafka/drift-data-0/00000.log", 256 << 10}, {"kafka/drift-data-1/00000.log", 128 << 10}} {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", f.n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const written = (64 + 256 + 128) << 10
	cases := []struct {
		name          string
		dir           string
		limit         int
		min, max      int64
		wantTruncated bool
	}{
		// On disk, a file takes whole blocks: at least its bytes, and at most
		// a few blocks more (the directories themselves are not counted).
		{"whole tree", dir, 100, written, written + 3*64<<10, false},
		{"stops at the entry limit", dir, 2, 0, written - 1, true},
		{"missing directory", filepath.Join(dir, "nope"), 100, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, truncated := dirSize(c.dir, c.limit)
			if got < c.min || got > c.max || truncated != c.wantTruncated {
				t.Errorf("dirSize(%s, %d) = %d, %v; want in [%d, %d], truncated %v", c.dir, c.limit, got, truncated, c.min, c.max, c.wantTruncated)
			}
		})
	}
}

func TestSysmetricsOpenFDs(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		mustWriteFile(t, filepath.Join(dir, strconv.Itoa(i)), 1)
	}
	if got := openFDs(dir); got != 3 {
		t.Errorf("openFDs of a directory with 3 entries = %d", got)
	}
	if got := openFDs(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("openFDs of a missing directory = %d, want 0", got)
	}
	if _, err := os.Stat(fdDir); err == nil {
		// The live process: opening one more file shows up.
		before := openFDs(fdDir)
		f, err := os.Open(filepath.Join(dir, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if after := openFDs(fdDir); after <= before || before == 0 {
			t.Errorf("open descriptors before and after opening a file: %d, %d", before, after)
		}
	}
	if maxFDs() == 0 {
		t.Error("maxFDs = 0: the soft limit on open files could not be read")
	}
}

// scrape returns the value of series in set's exposition, failing when absent.
func scrape(tb testing.TB, set *metrics.Set, series string) float64 {
	tb.Helper()
	for _, l := range strings.Split(exposition(set), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	tb.Fatalf("%s is not exported:\n%s", series, exposition(set))
	return 0
}

func TestSysmetricsSeries(t *testing.T) {
	dir := t.TempDir()
	mustWriteFile(t, filepath.Join(dir, "a"), 0)
	fds := t.TempDir()
	for i := range 5 {
		mustWriteFile(t, filepath.Join(fds, strconv.Itoa(i)), 0)
	}
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := &systemMetrics{
		dir:   dir,
		mem:   memoryFiles{cgroupV2: memFile("cgroup-v2-512m"), meminfo: memFile("meminfo-16g")},
		fdDir: fds,
		now:   clock.now,
		log:   slog.New(slog.DiscardHandler),
	}
	set := metrics.NewSet()
	s.register(set)
	s.register(set) // a second registration keeps the first callbacks and does not panic

	if got := scrape(t, set, "driftd_memory_limit_bytes"); got != 512<<20 {
		t.Errorf("driftd_memory_limit_bytes = %v, want %d", got, 512<<20)
	}
	if got := scrape(t, set, "process_open_fds"); got != 5 {
		t.Errorf("process_open_fds = %v, want 5", got)
	}
	if got := scrape(t, set, "process_max_fds"); got <= 0 {
		t.Errorf("process_max_fds = %v", got)
	}
	free, total := scrape(t, set, "driftd_data_dir_free_bytes"), scrape(t, set, "driftd_data_dir_filesystem_bytes")
	if total <= 0 || free <= 0 || free > total {
		t.Errorf("data dir free %v of %v bytes", free, total)
	}
	empty := scrape(t, set, "driftd_data_dir_bytes")

	// A file written now is seen only once the cached walk is older than the TTL.
	mustWriteFile(t, filepath.Join(dir, "big"), 1<<20)
	if got := scrape(t, set, "driftd_data_dir_bytes"); got != empty {
		t.Errorf("driftd_data_dir_bytes changed within the cache TTL: %v -> %v", empty, got)
	}
	clock.add(dataDirTTL)
	if got := scrape(t, set, "driftd_data_dir_bytes"); got < empty+1<<20 {
		t.Errorf("driftd_data_dir_bytes after the TTL = %v, want at least %v", got, empty+1<<20)
	}
}
