package server

import (
	"strconv"

	"github.com/labstack/echo/v4"

	"driftd/web"
)

// sectionHandler returns the page handler of a navigation section, or nil for
// the sections routes() registers itself. A section this version does not
// have yet gets a page that says so plainly.
func (a *App) sectionHandler(key string) echo.HandlerFunc {
	switch key {
	case "overview", "settings":
		return nil
	case "models":
		return a.uiModels
	case "experiments":
		return a.uiExperiments
	case "drift":
		return a.uiDrift
	case "kafka":
		return a.uiKafka
	case "training":
		return a.uiTraining
	}
	what := map[string]string{
		"pipeline":  "the end-to-end flow from training data to live scoring, with the state of each step",
		"schedules": "cron and interval schedules with their run history",
	}[key]
	title := key
	for _, s := range web.Sections() {
		if s.Key == key {
			title = s.Title
		}
	}
	return func(c echo.Context) error {
		return a.renderPage(c, a.page(c, key, title), web.NotBuilt(title, what))
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
