package train

import (
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://user:secret@db.example:5432/sales", "postgres://user:xxxxx@db.example:5432/sales"},
		{"postgresql://user:se%40cret@host/db?sslmode=require", "postgresql://user:xxxxx@host/db?sslmode=require"},
		{"POSTGRES://u:secret@h/db", "POSTGRES://u:xxxxx@h/db"},
		{"postgres://user:p@ss@host/db", "postgres://user:xxxxx@host/db"},
		{"postgres://u:pa/ss?x@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://user@host/db", "postgres://user@host/db"},
		{"postgres://host/db", "postgres://host/db"},
		{"postgres://host/db?password=secret&sslmode=disable", "postgres://host/db?password=xxxxx&sslmode=disable"},
		{"postgres://u@host/db?sslmode=verify-full&sslpassword=keypw", "postgres://u@host/db?sslmode=verify-full&sslpassword=xxxxx"},
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password = 'se cret\\' x' dbname=d", "host=h password = xxxxx dbname=d"},
		{`host=h password=se\ cret dbname=d`, "host=h password=xxxxx dbname=d"},
		{"host=h PASSWORD=secret", "host=h PASSWORD=xxxxx"},
		{"password='unterminated dbname=d", "password=xxxxx"},
		{"sslpassword=keypw host=h", "sslpassword=xxxxx host=h"},
		{"host=/var/run/postgresql dbname=d", "host=/var/run/postgresql dbname=d"},
		{"", ""},
	}
	for _, c := range cases {
		if got := RedactDSN(c.in); got != c.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCheckDSN(t *testing.T) {
	for dsn, ok := range map[string]bool{
		"postgres://u:s3cret@h:5432/db":        true,
		"host=h user=u password=s3cret":        true,
		"postgres://u:s3cret@h:port/db":        false,
		"host=h port=notaport password=s3cret": false,
	} {
		err := CheckDSN(dsn)
		if (err == nil) != ok || err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckDSN(%s): %v", RedactDSN(dsn), err)
		}
	}
}

// TestScrubber checks that error texts lose the password in every form it
// may take: as written, URL-decoded, URL-encoded, and resolved by pgx.
func TestScrubber(t *testing.T) {
	sc := newScrubber("postgres://u:p%40ss%2Fword@h/db", "fromenv-pw")
	for _, text := range []string{"a p%40ss%2Fword b", "a p@ss/word b", "a p%40ss%2Fword b", "a fromenv-pw b"} {
		if got := sc.scrub(text); got != "a xxxxx b" {
			t.Errorf("scrub(%q) = %q", text, got)
		}
	}
	if got := newScrubber("host=h password=ab", "").scrub("a tab b"); got != "a tab b" {
		t.Errorf("a two-letter password scrubbed ordinary text: %q", got)
	}
}

// FuzzRedactDSN builds URL and key=value DSNs around a fuzzed password
// and checks that RedactDSN removes exactly the password.
func FuzzRedactDSN(f *testing.F) {
	f.Add("alice", "secret", "db.example:5432")
	f.Add("bob", "p@ss:w/o?rd#", "10.0.0.1")
	f.Add("", "'quoted' \\ back", "h")
	f.Fuzz(func(t *testing.T, user, password, host string) {
		if strings.ContainsAny(user, ":@/?# \t\n\r\v\f'\\=") || strings.ContainsAny(host, "@?/#& \t\n\r\v\f'\\=") || password == "" {
			return
		}
		url := "postgres://" + user + ":" + password + "@" + host + "/db"
		if strings.Contains(password, "@") && strings.Contains(password, "?") {
			return // "u:a?b@c" is ambiguous to any reader
		}
		if got, want := RedactDSN(url), "postgres://"+user+":xxxxx@"+host+"/db"; got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", url, got, want)
		}
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password)
		kv := "user=" + user + " password='" + quoted + "' host=" + host
		if got, want := RedactDSN(kv), "user="+user+" password=xxxxx host="+host; got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", kv, got, want)
		}
		unquoted := strings.NewReplacer(`\`, `\\`, ` `, `\ `, "\t", "\\\t", "\n", "\\\n", "\r", "\\\r", "\v", "\\\v", "\f", "\\\f").Replace(password)
		kv = "user=" + user + " password=" + unquoted + " host=" + host
		if !strings.HasPrefix(password, "'") {
			if got, want := RedactDSN(kv), "user="+user+" password=xxxxx host="+host; got != want {
				t.Errorf("RedactDSN(%q) = %q, want %q", kv, got, want)
			}
		}
	})
}
