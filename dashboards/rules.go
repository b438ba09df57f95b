package dashboards

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule is one rule of alerts.yml: an alert (Alert set) or a recording rule
// (Record set).
type Rule struct {
	Group  string
	Alert  string
	Record string
	// Expr is the PromQL expression, inline or from an `expr: |` block.
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

// Name is the alert's or the recorded series' name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// AlertTest is one alert_rule_test case of alerts_test.yml.
type AlertTest struct {
	Alert    string
	EvalTime string
	// Firing is true when the case expects at least one alert, false for
	// `exp_alerts: []`.
	Firing bool
}

// Rules returns every rule of the bundled alerts.yml, in file order.
func Rules() ([]Rule, error) {
	b, err := Files.ReadFile("alerts.yml")
	if err != nil {
		return nil, err
	}
	return parseRules(string(b))
}

// AlertTests returns every alert_rule_test case of the bundled alerts_test.yml.
func AlertTests() ([]AlertTest, error) {
	b, err := Files.ReadFile("alerts_test.yml")
	if err != nil {
		return nil, err
	}
	return parseAlertTests(string(b))
}

// yamlLine is one significant line of a YAML file: its indent and text
// without the indent, comments and blank lines dropped.
type yamlLine struct {
	no     int // 1-based
	indent int
	text   string
}

// yamlLines splits src into lines, keeping blank lines (text "") because
// block scalars may contain them.
func yamlLines(src string) []yamlLine {
	var out []yamlLine
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimLeft(l, " ")
		out = append(out, yamlLine{no: i + 1, indent: len(l) - len(t), text: strings.TrimRight(t, " \r")})
	}
	return out
}

// keyValue splits "key: value" ("- key: value" too, dash reported).
func keyValue(text string) (key, value string, dash, ok bool) {
	if rest, found := strings.CutPrefix(text, "- "); found {
		text, dash = rest, true
	}
	k, v, found := strings.Cut(text, ":")
	if !found || strings.ContainsAny(k, " \"'{[") {
		return "", "", dash, false
	}
	return k, strings.TrimSpace(v), dash, true
}

// scalar decodes a plain, single- or double-quoted YAML scalar.
func scalar(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, `"`):
		return strconv.Unquote(v)
	case strings.HasPrefix(v, `'`):
		if len(v) < 2 || !strings.HasSuffix(v, `'`) {
			return "", fmt.Errorf("unterminated string %s", v)
		}
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'"), nil
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}

// flowMap decodes a one-line flow map such as {severity: page}.
func flowMap(v string) (map[string]string, error) {
	if !strings.HasPrefix(v, "{") || !strings.HasSuffix(v, "}") {
		return nil, fmt.Errorf("want a {key: value} map, got %q", v)
	}
	m := map[string]string{}
	for _, kv := range strings.Split(strings.Trim(v, "{}"), ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, ":")
		if !ok {
			return nil, fmt.Errorf("want key: value in %q", v)
		}
		s, err := scalar(strings.TrimSpace(val))
		if err != nil {
			return nil, err
		}
		m[strings.TrimSpace(k)] = s
	}
	return m, nil
}

// blockScalar reads the lines of a `|` or `>` block scalar that starts after
// lines[i] (whose key is at indent): the lines more indented than the key,
// and blank lines between them. It returns the text and the index of the
// last line read.
func blockScalar(lines []yamlLine, i, indent int, style string) (string, int) {
	var body []string
	last, base := i, -1
	for j := i + 1; j < len(lines); j++ {
		l := lines[j]
		if l.text == "" {
			body = append(body, "")
			continue
		}
		if l.indent <= indent {
			break
		}
		if base < 0 {
			base = l.indent
		}
		body = append(body, strings.Repeat(" ", l.indent-min(base, l.indent))+l.text)
		last = j
	}
	body = body[:last-i] // drop trailing blank lines
	sep := "\n"
	if strings.HasPrefix(style, ">") {
		sep = " "
	}
	text := strings.Join(body, sep)
	if !strings.HasSuffix(style, "-") {
		text += "\n"
	}
	return text, last
}

// parseRules reads the groups of a Prometheus rules file. It knows the shape
// of such files (groups, name, rules, alert/record, expr, for, labels,
// annotations) and fails on anything else, so a construct it cannot read is
// an error rather than a silently missed rule.
func parseRules(src string) ([]Rule, error) {
	lines := yamlLines(src)
	var rules []Rule
	group := ""
	ruleIndent := -1
	var cur *Rule
	var mapKey string // "labels" or "annotations" while reading a block map
	mapIndent := -1
	flush := func() {
		if cur != nil {
			rules = append(rules, *cur)
			cur = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l.text == "" || strings.HasPrefix(l.text, "#") {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("alerts.yml line %d: %s", l.no, fmt.Sprintf(format, args...))
		}
		if mapKey != "" && l.indent > mapIndent {
			k, v, dash, ok := keyValue(l.text)
			if !ok || dash {
				return nil, fail("want key: value under %s, got %q", mapKey, l.text)
			}
			s, err := scalar(v)
			if err != nil {
				return nil, fail("%s.%s: %v", mapKey, k, err)
			}
			if mapKey == "labels" {
				cur.Labels[k] = s
			} else {
				cur.Annotations[k] = s
			}
			continue
		}
		mapKey = ""
		k, v, dash, ok := keyValue(l.text)
		if !ok {
			return nil, fail("cannot read %q", l.text)
		}
		switch {
		case k == "groups" && l.indent == 0:
			continue
		case k == "name" && dash:
			flush()
			group, ruleIndent = v, -1
			continue
		case k == "rules" && !dash:
			continue
		case (k == "alert" || k == "record") && dash:
			flush()
			if group == "" {
				return nil, fail("a rule outside a group")
			}
			ruleIndent = l.indent
			cur = &Rule{Group: group, Labels: map[string]string{}, Annotations: map[string]string{}}
			if k == "alert" {
				cur.Alert = v
			} else {
				cur.Record = v
			}
			continue
		}
		if cur == nil || dash || l.indent != ruleIndent+2 {
			return nil, fail("unexpected %q", l.text)
		}
		switch k {
		case "expr":
			if strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				text, last := blockScalar(lines, i, l.indent, v)
				cur.Expr, i = strings.TrimSpace(text), last
				continue
			}
			s, err := scalar(v)
			if err != nil {
				return nil, fail("expr: %v", err)
			}
			cur.Expr = s
		case "for", "keep_firing_for":
			if k == "for" {
				cur.For = v
			}
		case "labels", "annotations":
			if v == "" {
				mapKey, mapIndent = k, l.indent
				continue
			}
			m, err := flowMap(v)
			if err != nil {
				return nil, fail("%s: %v", k, err)
			}
			for mk, mv := range m {
				if k == "labels" {
					cur.Labels[mk] = mv
				} else {
					cur.Annotations[mk] = mv
				}
			}
		default:
			return nil, fail("unknown rule key %q", k)
		}
	}
	flush()
	for _, r := range rules {
		if r.Expr == "" {
			return nil, fmt.Errorf("alerts.yml: rule %s has no expr", r.Name())
		}
	}
	return rules, nil
}

// parseAlertTests reads the alert_rule_test cases of a promtool test file.
// Each case names its alert and either lists expected alerts (firing) or
// has `exp_alerts: []` (silent).
func parseAlertTests(src string) ([]AlertTest, error) {
	lines := yamlLines(src)
	var out []AlertTest
	inAlerts := false
	sectionIndent, caseIndent := -1, -1
	var cur *AlertTest
	expIndent := -1 // indent of exp_alerts: while reading its block list
	flush := func() error {
		if cur == nil {
			return nil
		}
		if cur.Alert == "" || cur.EvalTime == "" {
			return fmt.Errorf("alerts_test.yml: a case without alertname or eval_time: %+v", *cur)
		}
		out = append(out, *cur)
		cur = nil
		return nil
	}
	for _, l := range lines {
		if l.text == "" || strings.HasPrefix(l.text, "#") {
			continue
		}
		k, v, dash, ok := keyValue(l.text)
		if inAlerts && l.indent <= sectionIndent {
			if err := flush(); err != nil {
				return nil, err
			}
			inAlerts = false
		}
		if !inAlerts {
			if ok && k == "alert_rule_test" {
				inAlerts, sectionIndent, caseIndent, expIndent = true, l.indent, -1, -1
			}
			continue
		}
		if expIndent >= 0 && l.indent > expIndent {
			if dash {
				cur.Firing = true // an expected alert
			}
			continue
		}
		expIndent = -1
		if dash {
			if caseIndent < 0 {
				caseIndent = l.indent
			}
			if l.indent == caseIndent {
				if err := flush(); err != nil {
					return nil, err
				}
				cur = &AlertTest{}
			}
		}
		if cur == nil || !ok {
			return nil, fmt.Errorf("alerts_test.yml line %d: cannot read %q", l.no, l.text)
		}
		switch k {
		case "alertname":
			cur.Alert = v
		case "eval_time":
			cur.EvalTime = v
		case "exp_alerts":
			switch v {
			case "[]":
				cur.Firing = false
			case "":
				expIndent = l.indent
			default:
				return nil, fmt.Errorf("alerts_test.yml line %d: exp_alerts must be [] or a block list", l.no)
			}
		default:
			return nil, fmt.Errorf("alerts_test.yml line %d: unknown case key %q", l.no, k)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
