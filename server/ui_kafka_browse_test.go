package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"driftd/stream"
)

// fakeBrowser serves Browse from records held in memory, per partition.
type fakeBrowser struct {
	parts map[int32][]stream.Message // offset = index
}

func (f fakeBrowser) Browse(_ context.Context, _ string, p int32, from int64, limit int) (stream.MessagePage, error) {
	recs := f.parts[p]
	end := min(int64(len(recs)), from+int64(limit))
	page := stream.MessagePage{Next: end}
	for o := from; o < end; o++ {
		page.Messages = append(page.Messages, recs[o])
	}
	return page, nil
}

// mustFakeTopic builds partitions whose records have the given timestamps
// (seconds), in offset order.
func mustFakeTopic(tb testing.TB, stamps map[int32][]int) (fakeBrowser, []stream.PartitionInfo) {
	tb.Helper()
	f := fakeBrowser{parts: map[int32][]stream.Message{}}
	var parts []stream.PartitionInfo
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for p := int32(0); p < int32(len(stamps)); p++ {
		for o, s := range stamps[p] {
			f.parts[p] = append(f.parts[p], stream.Message{Partition: p, Offset: int64(o), Timestamp: t0.Add(time.Duration(s) * time.Second)})
		}
		parts = append(parts, stream.PartitionInfo{ID: p, High: int64(len(stamps[p]))})
	}
	return f, parts
}

func ids(ms []stream.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d/%d ", m.Partition, m.Offset)
	}
	return strings.TrimSpace(b.String())
}

func TestBrowseMergedPages(t *testing.T) {
	// Partition 2 holds the newest records; partition 1 a timestamp out of order.
	f, parts := mustFakeTopic(t, map[int32][]int{0: {1, 4, 7}, 1: {2, 9, 5}, 2: {10, 11, 12, 13}})
	ctx := context.Background()
	cases := []struct {
		name        string
		pos         cursor
		newer       bool
		limit       int
		want        string
		older, next string
	}{
		{"newest page takes every partition", nil, false, 4, "2/3 2/2 2/1 2/0", "0:3,1:3,2:0", ""},
		{"older page keeps offsets contiguous", cursor{0: 3, 1: 3, 2: 0}, false, 4, "0/2 1/2 1/1 0/1", "0:1,1:1,2:0", "0:3,1:3,2:0"},
		{"oldest page ends", cursor{0: 1, 1: 1, 2: 0}, false, 4, "1/0 0/0", "", "0:1,1:1,2:0"},
		{"newer page from a position", cursor{0: 0, 1: 0, 2: 0}, true, 3, "0/1 1/0 0/0", "", "0:2,1:1,2:0"},
		{"newer page reaching the end", cursor{0: 3, 1: 3, 2: 2}, true, 4, "2/3 2/2", "0:3,1:3,2:2", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			page, err := browseMerged(ctx, f, "t", parts, tc.pos, tc.newer, tc.limit, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Messages); got != tc.want {
				t.Errorf("messages %q, want %q", got, tc.want)
			}
			if got := page.Older.String(); got != tc.older {
				t.Errorf("older cursor %q, want %q", got, tc.older)
			}
			if got := page.Newer.String(); got != tc.next {
				t.Errorf("newer cursor %q, want %q", got, tc.next)
			}
		})
	}
	// Walking older pages from the newest visits every record exactly once.
	seen := map[string]int{}
	var pos cursor
	for i := 0; i < 20; i++ {
		page, err := browseMerged(ctx, f, "t", parts, pos, false, 2, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			seen[fmt.Sprintf("%d/%d", m.Partition, m.Offset)]++
		}
		if page.Older == nil {
			break
		}
		pos = page.Older
	}
	if len(seen) != 10 {
		t.Errorf("walked %d distinct records, want 10: %v", len(seen), seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("record %s shown %d times", k, n)
		}
	}
}

func TestParseCursor(t *testing.T) {
	parts := []stream.PartitionInfo{{ID: 0}, {ID: 1}}
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"0:5,1:7", "0:5,1:7", true},
		{"1:7, 0:5", "0:5,1:7", true},
		{"2:1", "", false},
		{"0:-1", "", false},
		{"0", "", false},
		{"x:1", "", false},
	}
	for _, tc := range cases {
		c, err := parseCursor(tc.in, parts)
		if (err == nil) != tc.ok || (tc.ok && c.String() != tc.want) {
			t.Errorf("parseCursor(%q) = %q, %v; want %q ok=%v", tc.in, c.String(), err, tc.want, tc.ok)
		}
	}
}

func TestJSONPath(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"plan":"pro","x1":5,"nested":{"ok":true,"list":[1,"b"]},"nil":null,"a.b":"dotted"}`), &doc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, want string
		ok         bool
	}{
		{"plan", "pro", true},
		{"x1", "5", true},
		{"nested.ok", "true", true},
		{"nested.list.1", "b", true},
		{"nested.list.9", "", false},
		{"nil", "null", true},
		{"missing", "", false},
		{"plan.deeper", "", false},
		{"a.b", "dotted", true},
		{"nested", `{"list":[1,"b"],"ok":true}`, true},
	}
	for _, tc := range cases {
		got, ok := jsonPath(doc, tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("jsonPath(%q) = %q %v, want %q %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBrowseMergedFiltered(t *testing.T) {
	// 3 partitions of 1,000 records; record i (partition i%3, offset i/3,
	// written at i ms) carries plan=pro when i is a multiple of 97, so
	// matches lie in every partition.
	f := fakeBrowser{parts: map[int32][]stream.Message{}}
	var parts []stream.PartitionInfo
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	pro := map[string]bool{}
	for p := int32(0); p < 3; p++ {
		for o := 0; o < 1000; o++ {
			i := o*3 + int(p)
			plan := "basic"
			if i%97 == 0 {
				plan = "pro"
				pro[fmt.Sprintf("%d/%d", p, o)] = true
			}
			f.parts[p] = append(f.parts[p], stream.Message{Partition: p, Offset: int64(o), Timestamp: t0.Add(time.Duration(i) * time.Millisecond),
				Value: []byte(`{"plan":"` + plan + `"}`)})
		}
		parts = append(parts, stream.PartitionInfo{ID: p, High: 1000})
	}
	flt, err := parseMsgFilter("plan = pro")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A page of 5 matches, newest first, found across partitions.
	page, err := browseMerged(ctx, f, "t", parts, nil, false, 5, flt.match, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page.Messages); got != "0/970 2/937 1/905 0/873 2/840" {
		t.Errorf("first matches %q", got)
	}
	if page.Exhausted || page.Scanned != 3000-2522 {
		t.Errorf("scanned %d (exhausted %v), want down to the 5th match, record 2522", page.Scanned, page.Exhausted)
	}
	// Paging on shows every match once, in order, and nothing else.
	seen := map[string]bool{}
	var pos cursor = nil
	for pages := 0; pages < 20; pages++ {
		page, err := browseMerged(ctx, f, "t", parts, pos, false, 5, flt.match, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			k := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
			if seen[k] || !pro[k] {
				t.Errorf("page %d shows %s (seen before %v, pro %v)", pages, k, seen[k], pro[k])
			}
			seen[k] = true
		}
		if page.Older == nil {
			break
		}
		pos = page.Older
	}
	if len(seen) != len(pro) {
		t.Errorf("paged through %d matches, want %d", len(seen), len(pro))
	}

	// A bound smaller than the distance between matches stops the scan,
	// and its cursor continues from where it stopped.
	page, err = browseMerged(ctx, f, "t", parts, nil, false, 5, flt.match, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !page.Exhausted || page.Scanned != 100 || len(page.Messages) != 1 || page.Older == nil {
		t.Fatalf("bounded scan: %d scanned, %d kept, exhausted %v, older %v", page.Scanned, len(page.Messages), page.Exhausted, page.Older)
	}
	page, err = browseMerged(ctx, f, "t", parts, page.Older, false, 1, flt.match, 10000)
	if err != nil || ids(page.Messages) != "2/937" {
		t.Errorf("continued scan: %q %v", ids(page.Messages), err)
	}
	// Forward from a position (newer pages, Follow): oldest matches first, shown newest first.
	page, err = browseMerged(ctx, f, "t", parts, cursor{0: 0, 1: 0, 2: 0}, true, 2, flt.match, 10000)
	if err != nil || ids(page.Messages) != "1/32 0/0" || page.Next.String() != "0:33,1:33,2:32" {
		t.Errorf("forward scan: %q next %s %v", ids(page.Messages), page.Next, err)
	}
}

func TestParseSeekTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 13, 45, 0, 0, time.UTC)
	for _, s := range []string{"2024-05-01T13:45", "2024-05-01T13:45:00", "2024-05-01 13:45", "2024-05-01T15:45:00+02:00"} {
		got, err := parseSeekTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSeekTime(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := parseSeekTime("yesterday"); err == nil {
		t.Error("parseSeekTime accepted \"yesterday\"")
	}
}
