package pgtest

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestStart starts a cluster and checks that the test role owns its
// database and is no superuser, and that the server listens where DSN says.
func TestStart(t *testing.T) {
	s := Start(t)
	cases := []struct{ sql, want string }{
		{"select current_database()", s.Database},
		{"select pg_get_userbyid(datdba) from pg_database where datname = current_database()", s.User},
		{"select current_user", s.User},
		{"select rolsuper from pg_roles where rolname = current_user", "f"},
		{"show listen_addresses", "127.0.0.1"},
	}
	for _, c := range cases {
		if got := s.MustExec(t, c.sql); got != c.want {
			t.Errorf("%s: %q, want %q", c.sql, got, c.want)
		}
	}
	if !strings.Contains(s.DSN(), net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))) || !strings.Contains(s.DSN(), s.Password) {
		t.Errorf("DSN %s", s.DSN())
	}
	if _, err := s.Exec("select * from no_such_table"); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("a bad statement: %v, want its error", err)
	}
}
