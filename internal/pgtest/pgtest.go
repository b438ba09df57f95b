// Package pgtest starts throwaway PostgreSQL clusters for tests: Debian's
// `postgresql` binaries, a cluster in a temporary directory, a free port on
// 127.0.0.1, stopped when the test ends.
package pgtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running throwaway cluster. The test role User (password
// Password) owns the database Database and connects over TCP with its
// password (scram-sha-256); Exec runs SQL as that role over the cluster's
// own Unix socket (trust).
type Server struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int
	// User, Password and Database are the test role and its database.
	User, Password, Database string

	bin     string // directory of initdb, postgres, pg_ctl, psql
	dataDir string
	sockDir string
}

// DSN returns the URL DSN of the test role, password included.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", s.User, s.Password, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), s.Database)
}

// Bin returns the directory of the PostgreSQL binaries (psql among them).
func (s *Server) Bin() string { return s.bin }

// Binaries returns the directory of the newest installed PostgreSQL
// server binaries (/usr/lib/postgresql/N/bin), or an error naming the
// package to install.
func Binaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

// version returns N of /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start starts a cluster for tb, stopped (pg_ctl stop -m immediate) when
// tb ends. Without the binaries it skips tb, or fails it when
// DRIFTD_INTEGRATION is set.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binaries()
	if err != nil {
		if os.Getenv("DRIFTD_INTEGRATION") != "" {
			tb.Fatalf("DRIFTD_INTEGRATION is set but PostgreSQL is missing: %v", err)
		}
		tb.Skipf("needs PostgreSQL: %v (or set DRIFTD_INTEGRATION=1 to make this a failure)", err)
	}
	s := &Server{Host: "127.0.0.1", User: "driftd_test", Database: "driftd_test", Password: "pw-" + randomHex(12), bin: bin}
	dir := tb.TempDir()
	s.dataDir, s.sockDir = filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	cred, err := s.credential(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if out, err := s.command(cred, "initdb", "-D", s.dataDir, "-U", "postgres", "-E", "UTF8", "--locale=C",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // a free port can be taken between picking it and binding it
		if lastErr = s.start(tb, cred); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatal(lastErr)
	}
	if _, err := s.exec("postgres", "postgres", fmt.Sprintf("create role %s login password '%s'", s.User, s.Password),
		fmt.Sprintf("create database %s owner %s", s.Database, s.User)); err != nil {
		tb.Fatal(err)
	}
	return s
}

// credential returns the process credential of the server: none as a
// normal user; as root (whom initdb refuses) the `postgres` system user,
// with dir handed to it and its parents opened to it.
func (s *Server) credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the cluster must run as the postgres user (created by the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o711); err != nil {
				return nil, err
			}
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command returns a PostgreSQL binary's command, run as cred.
func (s *Server) command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// start runs postgres on a free port and waits until it accepts
// connections; it returns an error when the server exits or is not
// ready within a minute.
func (s *Server) start(tb testing.TB, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.sockDir, 0o755); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(s.sockDir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	var log lockedBuffer
	cmd := s.command(cred, "postgres", "-D", s.dataDir, "-p", strconv.Itoa(port), "-k", s.sockDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=20", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = &log, &log
	// A test binary killed before its cleanup takes the server with it
	// (SIGQUIT: PostgreSQL's immediate shutdown).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.Port = port
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("postgres on port %d exited: %v\n%s", port, err, log.String())
		default:
		}
		if s.command(nil, "pg_isready", "-q", "-h", s.sockDir, "-p", strconv.Itoa(port)).Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("postgres on port %d not ready after a minute:\n%s", port, log.String())
		}
		time.Sleep(50 * time.Millisecond) // polling pg_isready
	}
	tb.Cleanup(func() {
		if out, err := s.command(cred, "pg_ctl", "stop", "-D", s.dataDir, "-m", "immediate", "-w").CombinedOutput(); err != nil {
			tb.Logf("pg_ctl stop: %v\n%s", err, out)
			_ = cmd.Process.Kill()
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			tb.Errorf("postgres on port %d still running 30s after pg_ctl stop", port)
		}
	})
	return nil
}

// Exec runs SQL as the test role in the test database (psql over the
// Unix socket, stopping at the first error; what it creates belongs to
// the test role) and returns what psql printed: unaligned rows, one per
// line, without headers.
func (s *Server) Exec(sql string) (string, error) {
	return s.exec(s.User, s.Database, sql)
}

// exec runs each of sqls (one transaction each) as role in database db.
func (s *Server) exec(role, db string, sqls ...string) (string, error) {
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", s.sockDir, "-p", strconv.Itoa(s.Port), "-U", role, "-d", db}
	for _, q := range sqls {
		args = append(args, "-c", q)
	}
	cmd := s.command(nil, "psql", args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// MustExec is Exec that fails tb on an error.
func (s *Server) MustExec(tb testing.TB, sql string) string {
	tb.Helper()
	out, err := s.Exec(sql)
	if err != nil {
		tb.Fatalf("%s\n%v", sql, err)
	}
	return out
}

// lockedBuffer is a bytes.Buffer the server's output goroutines write to
// while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
