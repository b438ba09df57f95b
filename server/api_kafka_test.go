package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestAPIKafkaMessagesPage produces test messages through the API and reads
// them back: the answer says where the next page starts and that the read
// was complete, and bad partitions and offsets are 4xx with a JSON error.
func TestAPIKafkaMessagesPage(t *testing.T) {
	a := mustStartApp(t, testConfig(t))
	topic := a.pipeline.Topics().Labels
	var part int32 = -1
	for i := range 3 {
		body := fmt.Sprintf(`{"key":"k","value":{"id":"r%d","label":"1"}}`, i)
		var out struct {
			Partition int32 `json:"partition"`
		}
		a.apiJSON(t, http.MethodPost, "/api/v1/kafka/topics/"+topic+"/messages", json.RawMessage(body), http.StatusCreated, &out)
		part = out.Partition // one key: one partition
	}
	var page struct {
		Messages []struct {
			Offset int64 `json:"offset"`
		} `json:"messages"`
		Partial bool  `json:"partial"`
		Next    int64 `json:"next"`
	}
	a.apiJSON(t, http.MethodGet, fmt.Sprintf("/api/v1/kafka/topics/%s/messages?partition=%d&offset=0&limit=2", topic, part), nil, http.StatusOK, &page)
	if len(page.Messages) != 2 || page.Partial || page.Next != 2 {
		t.Fatalf("first page: %d messages, partial %v, next %d; want 2, false, 2", len(page.Messages), page.Partial, page.Next)
	}
	a.apiJSON(t, http.MethodGet, fmt.Sprintf("/api/v1/kafka/topics/%s/messages?partition=%d&offset=%d", topic, part, page.Next), nil, http.StatusOK, &page)
	if len(page.Messages) != 1 || page.Messages[0].Offset != 2 || page.Next != 3 {
		t.Fatalf("second page: %+v; want offset 2 only, next 3", page)
	}
	// A filter scans the partition: from an offset forward, or from the end.
	var filtered struct {
		Messages []struct {
			Offset int64           `json:"offset"`
			Value  json.RawMessage `json:"value"`
		} `json:"messages"`
		Next    int64 `json:"next"`
		Scanned int   `json:"scanned"`
	}
	a.apiJSON(t, http.MethodGet, fmt.Sprintf("/api/v1/kafka/topics/%s/messages?partition=%d&offset=0&limit=1&filter=%s", topic, part, url.QueryEscape("id ~ R1")), nil, http.StatusOK, &filtered)
	if len(filtered.Messages) != 1 || filtered.Messages[0].Offset != 1 || filtered.Next != 2 || filtered.Scanned != 2 {
		t.Errorf("forward filtered read: %+v", filtered)
	}
	a.apiJSON(t, http.MethodGet, fmt.Sprintf("/api/v1/kafka/topics/%s/messages?partition=%d&filter=%s", topic, part, url.QueryEscape("id != r1")), nil, http.StatusOK, &filtered)
	if len(filtered.Messages) != 2 || filtered.Messages[0].Offset != 0 || filtered.Messages[1].Offset != 2 || filtered.Scanned != 3 {
		t.Errorf("filtered read from the end: %+v", filtered)
	}
	for _, q := range []string{"?partition=99", "?partition=x", "?offset=-4", "?filter=id+%3E+x"} {
		status, body := a.do(t, http.MethodGet, "/api/v1/kafka/topics/"+topic+"/messages"+q, a.token, "", nil)
		if status < 400 || status >= 500 || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s: %d %s; want 4xx with a JSON error", q, status, body)
		}
	}
}
