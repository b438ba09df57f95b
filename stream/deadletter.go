package stream

import (
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds of a dead letter. A dead letter must be producible whatever the
// input was: the original value, key and headers are cut to these sizes
// (a "truncated" header says what was cut), well under the 1 MB a Kafka
// record may have by default.
const (
	maxDeadLetterValue  = 64 << 10
	maxDeadLetterKey    = 1 << 10
	maxDeadLetterHeader = 1 << 10 // bytes of one header value, the reason included
	maxDeadLetterCopied = 32      // headers of the original kept
)

// deadLetterRecord copies r for the dead-letter topic, bounded, with the
// reason and the record's origin in headers.
func deadLetterRecord(topic string, r *kgo.Record, err error) *kgo.Record {
	h := make([]kgo.RecordHeader, 0, min(len(r.Headers), maxDeadLetterCopied)+6)
	for _, x := range r.Headers[:min(len(r.Headers), maxDeadLetterCopied)] {
		h = append(h, kgo.RecordHeader{Key: clipString(x.Key, maxDeadLetterHeader), Value: clipBytes(x.Value, maxDeadLetterHeader)})
	}
	h = append(h, originHeaders(r, err)...)
	var cut []byte
	if n := len(r.Value); n > maxDeadLetterValue {
		cut = strconv.AppendInt(append(cut, "value "...), int64(n), 10)
		cut = strconv.AppendInt(append(cut, " bytes, first "...), maxDeadLetterValue, 10)
		cut = append(cut, " kept"...)
	}
	if n := len(r.Key); n > maxDeadLetterKey {
		if cut != nil {
			cut = append(cut, "; "...)
		}
		cut = strconv.AppendInt(append(cut, "key "...), int64(n), 10)
		cut = strconv.AppendInt(append(cut, " bytes, first "...), maxDeadLetterKey, 10)
		cut = append(cut, " kept"...)
	}
	if n := len(r.Headers); n > maxDeadLetterCopied {
		if cut != nil {
			cut = append(cut, "; "...)
		}
		cut = strconv.AppendInt(append(cut, "headers "...), int64(n), 10)
		cut = strconv.AppendInt(append(cut, ", first "...), maxDeadLetterCopied, 10)
		cut = append(cut, " kept"...)
	}
	if cut != nil {
		h = append(h, kgo.RecordHeader{Key: "truncated", Value: cut})
	}
	return &kgo.Record{Topic: topic, Key: clipBytes(r.Key, maxDeadLetterKey), Value: clipBytes(r.Value, maxDeadLetterValue), Headers: h}
}

// minimalDeadLetter is the last resort for r when even its bounded copy
// could not be produced: the reason and the origin, nothing of the input.
func minimalDeadLetter(topic string, r *kgo.Record, err error) *kgo.Record {
	h := append(originHeaders(r, err), kgo.RecordHeader{Key: "truncated", Value: []byte("key, value and headers dropped: the bounded copy could not be produced")})
	return &kgo.Record{Topic: topic, Headers: h}
}

func originHeaders(r *kgo.Record, err error) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: "error", Value: clipBytes([]byte(err.Error()), maxDeadLetterHeader)},
		{Key: "source_topic", Value: []byte(r.Topic)},
		{Key: "source_partition", Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		{Key: "source_offset", Value: strconv.AppendInt(nil, r.Offset, 10)},
	}
}

func clipBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n:n]
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// unproducible reports whether a produce error means the record itself can
// never be written, so that retrying it would stall the stream behind it:
// the client or the broker refused its size or its content. Every other
// error is retried: retriable ones (kerr.IsRetriable: leader moves,
// timeouts), and also non-retriable ones that concern the cluster rather
// than the record (authorisation, an invalid topic), which an operator
// fixes without losing anything.
func unproducible(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kerr.MessageTooLarge, // the record alone is over the producer's or the topic's limit
		kerr.RecordListTooLarge, // the batch is over the broker's segment size
		kerr.InvalidRecord,      // the broker's validation refused it (e.g. no key on a compacted topic)
		kerr.CorruptMessage,     // CRC or encoding refused (kgo does not retry it)
		kerr.InvalidTimestamp:   // timestamp outside the topic's accepted range
		return true
	}
	return false
}
