package server

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	// dataDirTTL is how long a walk of the data directory and a read of the
	// memory limit serve scrapes: a scrape every 15s walks at most every 30s.
	dataDirTTL = 30 * time.Second
	// maxDataDirEntries bounds one walk of the data directory; beyond it the
	// size is a lower bound and a warning is logged once.
	maxDataDirEntries = 100_000
	// unlimitedMemory is the smallest cgroup v1 limit taken as "no limit"
	// (v1 writes 2^63 rounded down to a page for none).
	unlimitedMemory = 1 << 62
)

// fdDir lists the open file descriptors of the process on Linux.
const fdDir = "/proc/self/fd"

// memoryFiles are where the memory limit is read: cgroup v2 and v1 limits
// and the machine's memory (for when neither limits the process).
type memoryFiles struct {
	cgroupV2, cgroupV1, meminfo string
}

// hostMemoryFiles are the files as a process (in a container or not) sees
// its own cgroup on Linux.
func hostMemoryFiles() memoryFiles {
	return memoryFiles{
		cgroupV2: "/sys/fs/cgroup/memory.max",
		cgroupV1: "/sys/fs/cgroup/memory/memory.limit_in_bytes",
		meminfo:  "/proc/meminfo",
	}
}

// systemMetrics exports what the Go and process metrics lack for alerts on
// resources: the data directory's size on disk, its file system's free and
// total bytes, the memory limit the process runs under, and its open and
// maximum file descriptors (metrics.WriteProcessMetrics leaves those out).
// Values are computed at scrape time; the walk and the limit are cached for
// dataDirTTL.
type systemMetrics struct {
	dir   string
	mem   memoryFiles
	fdDir string // where open descriptors are counted
	now   func() time.Time
	log   *slog.Logger

	mu        sync.Mutex
	at        time.Time // of the cached walk and limit
	size      float64
	limit     float64
	truncated bool // a walk stopped at maxDataDirEntries (logged once)
}

// startSystemMetrics registers driftd_data_dir_bytes, driftd_data_dir_free_bytes,
// driftd_data_dir_filesystem_bytes, driftd_memory_limit_bytes,
// process_open_fds and process_max_fds, and the
// scheduler's flow health series (driftd_flow_expected_interval_seconds,
// driftd_flow_next_fire_timestamp_seconds, driftd_flow_last_run_failed), on
// the App's metrics set. Start calls it once, after the scheduler started.
// Registering twice keeps the first callbacks.
func (a *App) startSystemMetrics(ctx context.Context) {
	s := &systemMetrics{dir: a.cfg.DataDir, mem: hostMemoryFiles(), fdDir: fdDir, now: a.now, log: a.logger.With("component", "sysmetrics")}
	s.register(a.metrics)
	if a.engine != nil {
		// The subscription ends with the engine: Close delivers nothing more.
		if _, err := a.engine.ExportFlowHealth(ctx); err != nil {
			a.logger.Warn("flow health metrics", "err", err)
		}
	}
}

// register adds the callback gauges to set.
func (s *systemMetrics) register(set *metrics.Set) {
	set.GetOrCreateGauge(`driftd_data_dir_bytes`, func() float64 { size, _ := s.cached(); return size })
	set.GetOrCreateGauge(`driftd_memory_limit_bytes`, func() float64 { _, limit := s.cached(); return limit })
	set.GetOrCreateGauge(`driftd_data_dir_free_bytes`, func() float64 { free, _ := s.statfs(); return free })
	set.GetOrCreateGauge(`driftd_data_dir_filesystem_bytes`, func() float64 { _, total := s.statfs(); return total })
	// The names of the Prometheus Go client, so the usual fd alerts apply.
	set.GetOrCreateGauge(`process_open_fds`, func() float64 { return float64(openFDs(s.fdDir)) })
	set.GetOrCreateGauge(`process_max_fds`, func() float64 { return float64(maxFDs()) })
}

// openFDs returns the number of entries in dir, the process's descriptor
// directory (0 when it cannot be read, as on systems without /proc).
func openFDs(dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0
	}
	return len(names) // for /proc/self/fd, with the one reading it, as other exporters count
}

// maxFDs returns the soft limit on open descriptors (0 when unknown).
func maxFDs() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}

// cached returns the data directory's size and the memory limit, walking and
// reading again when the cache is older than dataDirTTL.
func (s *systemMetrics) cached() (size, limit float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.at.IsZero() || now.Sub(s.at) >= dataDirTTL || now.Before(s.at) {
		n, truncated := dirSize(s.dir, maxDataDirEntries)
		if truncated && !s.truncated {
			s.log.Warn("data directory has more entries than one metrics walk reads: driftd_data_dir_bytes is a lower bound",
				"dir", s.dir, "entries", maxDataDirEntries)
		}
		s.size, s.truncated = float64(n), truncated
		s.limit = float64(memoryLimit(s.mem))
		s.at = now
	}
	return s.size, s.limit
}

// statfs returns the bytes available to driftd and the total bytes of the
// data directory's file system (0, 0 when it cannot be read).
func (s *systemMetrics) statfs() (free, total float64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, 0
	}
	bs := float64(st.Bsize)
	return float64(st.Bavail) * bs, float64(st.Blocks) * bs
}

// dirSize returns the bytes the files under dir occupy on disk (like du),
// reading at most limit entries; truncated reports that it stopped there.
// Entries that vanish or cannot be read during the walk are skipped.
func dirSize(dir string, limit int) (size int64, truncated bool) {
	n := 0
	errStop := errors.New("stop")
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or vanished: skip it (a directory's contents too)
		}
		if n++; n > limit {
			truncated = true
			return errStop
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			size += int64(st.Blocks) * 512
		} else {
			size += info.Size()
		}
		return nil
	})
	return size, truncated
}

// memoryLimit returns the cgroup memory limit of the process (v2, then v1),
// or the machine's memory when there is none or it is larger; 0 when none
// can be read.
func memoryLimit(files memoryFiles) int64 {
	machine := meminfoTotal(files.meminfo)
	for _, p := range []string{files.cgroupV2, files.cgroupV1} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= unlimitedMemory { // "max" or no limit
			break
		}
		if machine == 0 || v < machine {
			return v
		}
		break
	}
	return machine
}

// meminfoTotal returns MemTotal from a /proc/meminfo file in bytes (0 when unreadable).
func meminfoTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
