package server

import (
	"strconv"

	"github.com/labstack/echo/v4"
)

// sectionHandler returns the page handler of a navigation section, or nil for
// the sections routes() registers itself.
func (a *App) sectionHandler(key string) echo.HandlerFunc {
	switch key {
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
	case "pipeline":
		return a.uiPipeline
	case "schedules":
		return a.uiSchedules
	}
	return nil
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
