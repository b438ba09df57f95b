package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"driftd/registry"
	"driftd/server"
)

// runRestore implements `driftd restore --data-dir D [--force] FILE`: it validates FILE
// as a driftd registry backup and installs it as D's registry file, refusing to replace
// an existing non-empty registry unless --force is given.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("restore", stderr, "Usage: driftd restore [--data-dir DIR] [--force] FILE\n\n"+
		"Restores a registry backup (from GET /api/v1/backup) into DIR/"+registry.FileName+
		" after checking that FILE is a driftd registry. Stop the server first.")
	sf := server.RegisterSettings(fs, "DRIFTD_DATA_DIR")
	force := fs.Bool("force", false, "replace an existing non-empty registry")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "restore: expected exactly one backup FILE")
		fs.Usage()
		return 2
	}
	cfg, code := resolveSettings("restore", sf, stderr)
	if code != 0 {
		return code
	}
	if err := ctx.Err(); err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return 1
	}
	src := fs.Arg(0)
	dst := filepath.Join(cfg.DataDir, registry.FileName)
	n, err := registry.Restore(src, dst, *force)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s (%d bytes) into %s\n", src, n, dst)
	return 0
}
