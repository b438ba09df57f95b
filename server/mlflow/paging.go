package mlflow

import (
	"encoding/base64"
	"encoding/json"
)

// pageToken is the content of a next_page_token: the offset of the next page in
// the (deterministically ordered) result. Clients treat it as opaque.
type pageToken struct {
	Offset int `json:"offset"`
}

// pageLimits are the default and largest max_results of a search.
type pageLimits struct {
	def, max int64
}

// Paging limits, as MLflow's servers set them.
var (
	runsPaging        = pageLimits{def: 1000, max: 50000}
	experimentsPaging = pageLimits{def: 1000, max: 50000}
	modelsPaging      = pageLimits{def: 100, max: 1000}
	versionsPaging    = pageLimits{def: 10000, max: 200000}
	historyPaging     = pageLimits{def: 0, max: 25000} // no max_results: the whole history
	artifactsPaging   = pageLimits{def: 0, max: 10000}
)

// page decodes max_results and page_token: the offset and the number of items
// of the page (0 = all that remain). It returns INVALID_PARAMETER_VALUE for a
// malformed token or a max_results out of range.
func page(maxResults optInt, token string, l pageLimits) (offset, n int, err error) {
	n = int(l.def)
	if maxResults.Set {
		if maxResults.V <= 0 || maxResults.V > l.max {
			return 0, 0, invalid("Invalid value %d for parameter 'max_results': it must be between 1 and %d.", maxResults.V, l.max)
		}
		n = int(maxResults.V)
	}
	if token == "" {
		return 0, n, nil
	}
	raw, derr := base64.RawURLEncoding.DecodeString(token)
	var pt pageToken
	if derr != nil || json.Unmarshal(raw, &pt) != nil || pt.Offset < 0 {
		return 0, 0, invalid("Invalid page token %q: pass the next_page_token of the previous answer unchanged.", token)
	}
	return pt.Offset, n, nil
}

// slicePage returns the page of items starting at offset (n items; 0 = all)
// and the token of the next page ("" after the last).
func slicePage[T any](items []T, offset, n int) ([]T, string) {
	if offset >= len(items) {
		return []T{}, ""
	}
	end := len(items)
	if n > 0 && offset+n < end {
		end = offset + n
	}
	next := ""
	if end < len(items) {
		raw, _ := json.Marshal(pageToken{Offset: end})
		next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return items[offset:end], next
}
