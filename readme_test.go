package main

// TestREADME runs README.md: every ```sh, ```bash and ```console block, in
// order, as a new user would type them from a fresh clone, so that the
// README cannot drift from the program. The conventions are documented in
// the README's Development section; in short:
//
//   - sh and bash blocks run with `bash -euo pipefail`: every command must
//     exit 0. Their output is not checked.
//   - console blocks are transcripts: `$ command` lines (a line ending in
//     `\` continues the command) followed by the output the command must
//     print (stdout and stderr together). `...` alone on a line matches any
//     number of lines, `...` inside a line any text; a last line `[exit N]`
//     expects exit status N instead of 0. Commands of one block share one
//     shell, so a variable set by one is seen by the next.
//   - A marker comment on the lines before a block changes how it runs:
//     <!-- readme-test: background --> starts it in the background (its own
//     process group) and waits until http://127.0.0.1:8080/healthz (or the
//     URLs of wait=URL,URL) answers; it is interrupted (SIGINT, as Ctrl-C in
//     its terminal would) when the next background block starts, and must
//     then exit 0 (or N, with stop-exit=N). `beside` is a background block that neither stops nor is
//     stopped by others (SIGTERM at the end). `retry=30s` runs a block again
//     until it passes or the time is up (for what happens asynchronously:
//     scoring, training, the demo loop). `syntax-only; why` only checks the
//     block with `bash -n`, for the few that need a placeholder host, a
//     Docker daemon or would run this test suite inside itself.
//
// The blocks run in a copy of the working tree (tracked and untracked files,
// without data/ and .env) with the freshly built driftd on PATH and at
// ./driftd. 127.0.0.1 ports are rewritten to free ones (8080 and 9092 are
// also set as DRIFTD_ADDR and DRIFTD_KAFKA_LISTEN, so `./driftd serve` uses
// them) and /tmp/ to a private directory, so the test can run beside a real
// driftd and beside itself. Settings from the caller's environment
// (DRIFTD_*, KAFKA_*, DRIFT_*, RETRAIN_THRESHOLD) are removed.
//
// The demo's first shift comes after DRIFTD_DEMO_SHIFT_AFTER (2 minutes by
// default); the test sets it to 20s so the whole loop closes in about a
// minute. Nothing else is shortened.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one shell block of README.md.
type readmeBlock struct {
	line int    // line of the opening fence, for messages
	lang string // sh, bash or console
	text string
	opts readmeOptions
}

// readmeOptions are what a <!-- readme-test: ... --> marker says.
type readmeOptions struct {
	background bool
	beside     bool // a background block that neither stops nor is stopped by others
	syntaxOnly bool
	reason     string        // why a block is syntax-only
	retry      time.Duration // run again until it passes, for up to this long
	wait       []string      // URLs a background block is ready at
	stopExit   int           // the exit status a background block must stop with
}

var (
	fenceRe  = regexp.MustCompile("^```\\s*([A-Za-z0-9_-]*)\\s*$")
	markerRe = regexp.MustCompile(`^<!--\s*readme-test:\s*(.*?)\s*-->$`)
	portRe   = regexp.MustCompile(`\b(127\.0\.0\.1|localhost):([0-9]{2,5})\b`)
)

// parseREADME returns the shell blocks of a README in order. A marker must
// be followed by a shell block (blank lines between are allowed).
func parseREADME(text string) ([]readmeBlock, error) {
	var (
		blocks  []readmeBlock
		pending *readmeOptions
		pendAt  int
	)
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t\r")
		if m := markerRe.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			o, err := parseMarker(m[1])
			if err != nil {
				return nil, fmt.Errorf("README.md:%d: %w", i+1, err)
			}
			pending, pendAt = &o, i+1
			continue
		}
		m := fenceRe.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			if pending != nil && strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("README.md:%d: a readme-test marker must come right before a shell block", pendAt)
			}
			continue
		}
		// A block in a list item is indented: its lines lose the fence's indent.
		lang, start, indent := m[1], i+1, line[:len(line)-len(strings.TrimLeft(line, " "))]
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		if i == len(lines) {
			return nil, fmt.Errorf("README.md:%d: code block never closed", start)
		}
		switch lang {
		case "sh", "bash", "console":
			b := readmeBlock{line: start, lang: lang, text: strings.Join(body, "\n") + "\n"}
			if pending != nil {
				b.opts = *pending
			}
			blocks = append(blocks, b)
		default:
			if pending != nil {
				return nil, fmt.Errorf("README.md:%d: a readme-test marker before a %q block, not a shell block", pendAt, lang)
			}
		}
		pending = nil
	}
	return blocks, nil
}

// parseMarker reads "opt opt key=value; reason".
func parseMarker(s string) (readmeOptions, error) {
	var o readmeOptions
	opts, reason, _ := strings.Cut(s, ";")
	o.reason = strings.TrimSpace(reason)
	for _, f := range strings.Fields(opts) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "background":
			o.background = true
		case "beside":
			o.background, o.beside = true, true
		case "syntax-only":
			o.syntaxOnly = true
		case "retry":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, fmt.Errorf("readme-test: retry=%q is not a positive duration", v)
			}
			o.retry = d
		case "wait":
			o.wait = strings.Split(v, ",")
		case "stop-exit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return o, fmt.Errorf("readme-test: stop-exit=%q is not an exit status", v)
			}
			o.stopExit = n
		default:
			return o, fmt.Errorf("readme-test: unknown option %q (want background, beside, syntax-only, retry=D, wait=URL, stop-exit=N)", f)
		}
	}
	if o.syntaxOnly && o.reason == "" {
		return o, errors.New("readme-test: syntax-only needs a reason after ';'")
	}
	if o.syntaxOnly && (o.background || o.retry > 0) {
		return o, errors.New("readme-test: syntax-only runs nothing; it takes no other option")
	}
	return o, nil
}

// consoleCommand is one `$ command` of a console block with the output it
// must print and its exit status.
type consoleCommand struct {
	line   int
	cmd    string
	expect []string
	exit   int
}

var exitRe = regexp.MustCompile(`^\[exit ([0-9]+)\]$`)

// parseConsole splits a console block into its commands.
func parseConsole(b readmeBlock) ([]consoleCommand, error) {
	var cmds []consoleCommand
	lines := strings.Split(strings.TrimRight(b.text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			cc := consoleCommand{line: b.line + 1 + i, cmd: c}
			for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
				i++
				l = strings.TrimRight(lines[i], " \t")
				cc.cmd += "\n" + l
			}
			cmds = append(cmds, cc)
			continue
		}
		if len(cmds) == 0 {
			return nil, fmt.Errorf("README.md:%d: a console block must start with a `$ ` command", b.line+1+i)
		}
		last := &cmds[len(cmds)-1]
		if m := exitRe.FindStringSubmatch(l); m != nil {
			last.exit, _ = strconv.Atoi(m[1])
			continue
		}
		last.expect = append(last.expect, l)
	}
	return cmds, nil
}

// matchOutput checks output lines against expected lines: `...` alone
// matches any number of lines, `...` inside a line any text.
func matchOutput(expect, got []string) bool {
	if len(expect) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(expect[0]) == "..." {
		for k := 0; k <= len(got); k++ {
			if matchOutput(expect[1:], got[k:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 || !lineRe(expect[0]).MatchString(strings.TrimRight(got[0], " \t\r")) {
		return false
	}
	return matchOutput(expect[1:], got[1:])
}

// lineRe turns an expected line into an anchored pattern.
func lineRe(s string) *regexp.Regexp {
	parts := strings.Split(s, "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// readmeHarness runs blocks in one working directory.
type readmeHarness struct {
	t       *testing.T
	dir     string // the copy of the working tree the blocks run in
	tmp     string // what /tmp/ becomes
	env     []string
	ports   map[string]string // README port -> free port
	current *bgProc           // the background block a new one stops
	beside  []*bgProc
}

// bgProc is a background block's process group.
type bgProc struct {
	b    readmeBlock
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func TestREADME(t *testing.T) {
	if os.Getenv("DRIFTD_INTEGRATION") == "" {
		t.Skip("runs every command of README.md (a few minutes); set DRIFTD_INTEGRATION=1")
	}
	for _, tool := range []string{"bash", "curl", "go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("README test needs %s on PATH: %v", tool, err)
		}
	}
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseREADME(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 10 {
		t.Fatalf("README.md has %d shell blocks; the parser must have missed some", len(blocks))
	}
	h := newReadmeHarness(t)
	for _, b := range blocks {
		start := time.Now()
		h.run(b)
		t.Logf("README.md:%d: %s block ok (%s)", b.line, b.lang, time.Since(start).Round(100*time.Millisecond))
	}
}

// newReadmeHarness copies the working tree, installs the binary and picks
// the ports.
func newReadmeHarness(t *testing.T) *readmeHarness {
	root := t.TempDir()
	h := &readmeHarness{t: t, dir: filepath.Join(root, "driftd"), tmp: filepath.Join(root, "tmp"), ports: map[string]string{}}
	bin := filepath.Join(root, "bin")
	for _, d := range []string{h.dir, h.tmp, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyWorkTree(".", h.dir); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{filepath.Join(bin, "driftd"), filepath.Join(h.dir, "driftd")} {
		if err := copyFile(driftdBin, dst, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr, kafka := h.port("8080"), h.port("9092")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DRIFTD_") || strings.HasPrefix(k, "KAFKA_") || strings.HasPrefix(k, "DRIFT_") || k == "RETRAIN_THRESHOLD" || k == "PATH" {
			continue
		}
		h.env = append(h.env, kv)
	}
	h.env = append(h.env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DRIFTD_ADDR=127.0.0.1:"+addr, "DRIFTD_KAFKA_LISTEN=127.0.0.1:"+kafka,
		"DRIFTD_DEMO_SHIFT_AFTER=20s")
	t.Cleanup(h.stopAll)
	return h
}

// port returns the free port standing for a README port.
func (h *readmeHarness) port(p string) string {
	if q, ok := h.ports[p]; ok {
		return q
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	defer ln.Close()
	q := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	h.ports[p] = q
	return q
}

// rewrite replaces README ports and /tmp/ with the harness's.
func (h *readmeHarness) rewrite(s string) string {
	s = portRe.ReplaceAllStringFunc(s, func(m string) string {
		host, p, _ := strings.Cut(m, ":")
		return host + ":" + h.port(p)
	})
	return strings.ReplaceAll(s, "/tmp/", h.tmp+"/")
}

// where names a block in messages.
func where(b readmeBlock) string { return fmt.Sprintf("README.md:%d", b.line) }

// run runs one block as its options say.
func (h *readmeHarness) run(b readmeBlock) {
	t := h.t
	t.Helper()
	text := h.rewrite(b.text)
	switch {
	case b.opts.syntaxOnly:
		out, err := h.command(context.Background(), "bash", "-n", "-c", text).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: bash -n: %v\n%s\n%s", where(b), err, out, b.text)
		}
		t.Logf("%s: syntax only: %s", where(b), b.opts.reason)
	case b.opts.background:
		h.startBackground(b, text)
	default:
		deadline := time.Now().Add(b.opts.retry)
		for {
			err := h.runOnce(b, text)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", where(b), err)
			}
			time.Sleep(time.Second) // poll again until the retry deadline
		}
	}
}

// command makes a command that runs in the working tree with the
// harness's environment, in its own process group.
func (h *readmeHarness) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir, c.Env = h.dir, h.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	return c
}

// runOnce runs a foreground block once: an sh block must exit 0, a console
// block must print what it says.
func (h *readmeHarness) runOnce(b readmeBlock, text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if b.lang != "console" {
		out, err := h.command(ctx, "bash", "-euo", "pipefail", "-c", text).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v\n--- block\n%s--- output\n%s", err, text, out)
		}
		return nil
	}
	cmds, err := parseConsole(readmeBlock{line: b.line, text: text})
	if err != nil {
		return err
	}
	var script strings.Builder
	script.WriteString("set -o pipefail\nexec 2>&1\n")
	for i, c := range cmds {
		fmt.Fprintf(&script, "printf '\\036cmd %d\\n'\n%s\n__rc=$?; printf '\\n\\036rc %%d\\n' \"$__rc\"; [ \"$__rc\" -eq %d ] || exit 111\n", i, c.cmd, c.exit)
	}
	out, _ := h.command(ctx, "bash", "-c", script.String()).Output()
	results := parseTranscript(string(out))
	for i, c := range cmds {
		if i >= len(results) {
			return fmt.Errorf("README.md:%d: `%s` did not run (the block stopped before it)\n--- output\n%s", c.line, c.cmd, out)
		}
		r := results[i]
		if r.rc != c.exit || !matchOutput(c.expect, r.lines) {
			return fmt.Errorf("README.md:%d: `%s`: exit %d (want %d)\n--- want\n%s\n--- got\n%s", c.line, c.cmd, r.rc, c.exit,
				strings.Join(c.expect, "\n"), strings.Join(r.lines, "\n"))
		}
	}
	return nil
}

// transcriptResult is what one console command printed and its status.
type transcriptResult struct {
	lines []string
	rc    int
}

// parseTranscript splits the console script's output at its markers.
func parseTranscript(out string) []transcriptResult {
	var res []transcriptResult
	for _, seg := range strings.Split(out, "\036cmd ")[1:] {
		_, body, _ := strings.Cut(seg, "\n")
		text, tail, ok := strings.Cut(body, "\n\036rc ")
		if !ok {
			res = append(res, transcriptResult{lines: splitLines(body), rc: -1})
			break
		}
		rc, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(tail, "\n", 2)[0]))
		if err != nil {
			rc = -1
		}
		res = append(res, transcriptResult{lines: splitLines(text), rc: rc})
	}
	return res
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// startBackground stops the background block before it (unless either is
// beside the others), starts b and waits until it answers.
func (h *readmeHarness) startBackground(b readmeBlock, text string) {
	t := h.t
	if !b.opts.beside && h.current != nil {
		h.stop(h.current, syscall.SIGINT)
		h.current = nil
	}
	p := &bgProc{b: b, log: filepath.Join(h.tmp, fmt.Sprintf("readme-%d.log", b.line)), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = h.command(context.Background(), "bash", "-euo", "pipefail", "-c", text)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", where(b), err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	if b.opts.beside {
		h.beside = append(h.beside, p)
	} else {
		h.current = p
	}
	urls := b.opts.wait
	if len(urls) == 0 {
		urls = []string{"http://127.0.0.1:8080/healthz"}
	}
	for _, u := range urls {
		u = h.rewrite(u)
		deadline := time.Now().Add(2 * time.Minute) // the first `go run` compiles driftd
		for !answers(u) {
			select {
			case <-p.done:
				if p.err != nil {
					t.Fatalf("%s: background block exited (%v) before %s answered\n--- block\n%s--- output\n%s", where(b), p.err, u, text, readLog(p.log))
				}
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s did not answer within 2m\n--- output\n%s", where(b), u, readLog(p.log))
			}
			time.Sleep(100 * time.Millisecond) // poll until the server answers
		}
	}
}

// answers reports whether GET u answers 200.
func answers(u string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop signals p's process group (nothing is left to signal when a README
// command stopped the server already), waits until every process of the
// group has exited, and fails the test unless the shell exited as the
// block's stop-exit says (0 by default).
func (h *readmeHarness) stop(p *bgProc, sig syscall.Signal) {
	t := h.t
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig) // ESRCH when the group is gone
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("%s: background block still running 30s after %v\n--- output\n%s", where(p.b), sig, readLog(p.log))
			break
		}
		time.Sleep(50 * time.Millisecond) // poll until the group is gone
	}
	<-p.done
	if code := p.cmd.ProcessState.ExitCode(); code != p.b.opts.stopExit {
		t.Errorf("%s: background block exited with %v after %v (want status %d: a clean stop)\n--- output\n%s", where(p.b), p.err, sig, p.b.opts.stopExit, readLog(p.log))
	}
}

// stopAll stops what is still running at the end, as a service manager
// would (SIGTERM).
func (h *readmeHarness) stopAll() {
	if h.current != nil {
		h.stop(h.current, syscall.SIGTERM)
	}
	for _, p := range h.beside {
		h.stop(p, syscall.SIGTERM)
	}
}

func readLog(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	if len(b) > 20000 {
		b = append([]byte("...\n"), b[len(b)-20000:]...)
	}
	return string(b)
}

// copyWorkTree copies the tracked and untracked (not ignored) files of the
// repository at src to dst, without data/ and .env: a fresh clone with the
// working tree's changes.
func copyWorkTree(src, dst string) error {
	out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("copy work tree: git ls-files: %w", err)
	}
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" || name == ".env" || strings.HasPrefix(name, "data/") {
			continue
		}
		fi, err := os.Lstat(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return fmt.Errorf("copy work tree: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755); err != nil {
			return fmt.Errorf("copy work tree: %w", err)
		}
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name), fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// TestREADMEParser checks the block conventions the README test relies on.
func TestREADMEParser(t *testing.T) {
	cases := []struct {
		name   string
		readme string
		blocks int
		opts   []readmeOptions
		err    string
	}{
		{"plain", "x\n```sh\necho hi\n```\n```go\nx := 1\n```\n", 1, []readmeOptions{{}}, ""},
		{"marker", "<!-- readme-test: background wait=http://127.0.0.1:8081/healthz -->\n\n```sh\n./driftd serve\n```\n", 1,
			[]readmeOptions{{background: true, wait: []string{"http://127.0.0.1:8081/healthz"}}}, ""},
		{"syntax only", "<!-- readme-test: syntax-only; needs Docker -->\n```sh\ndocker ps\n```\n", 1,
			[]readmeOptions{{syntaxOnly: true, reason: "needs Docker"}}, ""},
		{"retry", "<!-- readme-test: retry=30s -->\n```console\n$ true\n```\n", 1, []readmeOptions{{retry: 30 * time.Second}}, ""},
		{"syntax only without reason", "<!-- readme-test: syntax-only -->\n```sh\nx\n```\n", 0, nil, "needs a reason"},
		{"unknown option", "<!-- readme-test: backgroud -->\n```sh\nx\n```\n", 0, nil, "unknown option"},
		{"marker before text", "<!-- readme-test: background -->\ntext\n```sh\nx\n```\n", 0, nil, "right before a shell block"},
		{"marker before go", "<!-- readme-test: background -->\n```go\nx\n```\n", 0, nil, "not a shell block"},
		{"unclosed", "```sh\nx\n", 0, nil, "never closed"},
		{"indented in a list", "- item\n\n  <!-- readme-test: syntax-only; slow -->\n  ```sh\n  go test ./...\n  ```\n", 1,
			[]readmeOptions{{syntaxOnly: true, reason: "slow"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			blocks, err := parseREADME(tc.readme)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(blocks) != tc.blocks {
				t.Fatalf("%d blocks, %v; want %d", len(blocks), err, tc.blocks)
			}
			for i, b := range blocks {
				if fmt.Sprint(b.opts) != fmt.Sprint(tc.opts[i]) {
					t.Errorf("block %d options %+v, want %+v", i, b.opts, tc.opts[i])
				}
			}
		})
	}
}

// TestREADMEConsoleMatching checks transcripts: commands, continuation
// lines, expected output with `...`, and [exit N].
func TestREADMEConsoleMatching(t *testing.T) {
	b := readmeBlock{line: 10, lang: "console", text: "$ echo a \\\n  b\na b\n$ false\n[exit 1]\n$ seq 3\n1\n...\n$ printf 'x=42 y'\nx=... y\n"}
	cmds, err := parseConsole(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 4 || cmds[0].cmd != "echo a \\\n  b" || cmds[1].exit != 1 || cmds[2].line != 16 {
		t.Fatalf("commands %+v", cmds)
	}
	cases := []struct {
		expect, got []string
		ok          bool
	}{
		{nil, nil, true},
		{nil, []string{"x"}, false},
		{[]string{"a"}, []string{"a"}, true},
		{[]string{"a"}, []string{"a", "b"}, false},
		{[]string{"a", "..."}, []string{"a", "b", "c"}, true},
		{[]string{"...", "c"}, []string{"a", "b", "c"}, true},
		{[]string{"x=... y"}, []string{"x=42 y"}, true},
		{[]string{"x=... y"}, []string{"x=42 z"}, false},
		{[]string{"a.b"}, []string{"axb"}, false},
	}
	for _, tc := range cases {
		if got := matchOutput(tc.expect, tc.got); got != tc.ok {
			t.Errorf("matchOutput(%q, %q) = %v, want %v", tc.expect, tc.got, got, tc.ok)
		}
	}
	res := parseTranscript("\036cmd 0\nhello\n\n\036rc 0\n\036cmd 1\n{\"a\":1}\n\036rc 3\n")
	if len(res) != 2 || res[0].rc != 0 || len(res[0].lines) != 1 || res[1].rc != 3 || res[1].lines[0] != `{"a":1}` {
		t.Errorf("transcript %+v", res)
	}
}
