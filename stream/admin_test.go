package stream

import (
	"context"
	"fmt"
	"testing"
)

func TestAdminViews(t *testing.T) {
	b := startBroker(t, "")
	ctx := context.Background()
	cfg := Config{Brokers: []string{b.Addr()}}
	if err := EnsureTopics(ctx, cfg, []string{"t1"}, 1, 1); err != nil {
		t.Fatal(err)
	}
	// Existing topics are accepted as they are.
	if err := EnsureTopics(ctx, cfg, []string{"t1"}, 4, 1); err != nil {
		t.Fatal(err)
	}
	adm, err := NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	for i := range 20 {
		if _, _, err := adm.ProduceTest(ctx, "t1", nil, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	topics, err := adm.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 1 || topics[0].Name != "t1" || topics[0].Messages != 20 || len(topics[0].Partitions) != 1 {
		t.Fatalf("topics = %+v", topics)
	}
	msgs, err := adm.Messages(ctx, "t1", 0, -5, 10)
	if err != nil || len(msgs) != 5 || msgs[0].Offset != 15 || string(msgs[4].Value) != `{"n":19}` {
		t.Fatalf("newest 5 = %+v, %v", msgs, err)
	}
	msgs, err = adm.Messages(ctx, "t1", 0, 3, 2)
	if err != nil || len(msgs) != 2 || msgs[0].Offset != 3 {
		t.Fatalf("from 3 = %+v, %v", msgs, err)
	}
	if _, err := adm.Messages(ctx, "nope", 0, 0, 1); err == nil {
		t.Fatal("unknown topic accepted")
	}
	// A scorer group shows up with zero lag after consuming everything.
	s := startScorer(t, b.Addr(), "grp", &sumModel{version: "1", schema: Schema{Names: []string{"n"}, Categorical: []bool{false}}}, nil, 100)
	_ = s
	if _, _, err := adm.ProduceTest(ctx, "drift-data", []byte("k"), []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, b.Addr(), "grp", "drift-data", 1)
	groups, err := adm.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Group != "grp" || groups[0].TotalLag != 0 || len(groups[0].Lag) == 0 {
		t.Fatalf("groups = %+v", groups)
	}
}
