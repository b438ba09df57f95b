package mlflow

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"driftd/registry"
)

// MLflow error codes (databricks.proto's ErrorCode names) used by this API.
const (
	codeInvalidParameter = "INVALID_PARAMETER_VALUE"
	codeNotFound         = "RESOURCE_DOES_NOT_EXIST"
	codeAlreadyExists    = "RESOURCE_ALREADY_EXISTS"
	codeInternal         = "INTERNAL_ERROR"
	codeUnauthenticated  = "UNAUTHENTICATED"
	codePermissionDenied = "PERMISSION_DENIED"
	codeEndpointNotFound = "ENDPOINT_NOT_FOUND"
	codeBadRequest       = "BAD_REQUEST"
	codeLimitExceeded    = "REQUEST_LIMIT_EXCEEDED"
)

// codeStatus is the HTTP status MLflow answers each error code with.
var codeStatus = map[string]int{
	codeInvalidParameter: http.StatusBadRequest,
	codeNotFound:         http.StatusNotFound,
	codeAlreadyExists:    http.StatusBadRequest,
	codeInternal:         http.StatusInternalServerError,
	codeUnauthenticated:  http.StatusUnauthorized,
	codePermissionDenied: http.StatusForbidden,
	codeEndpointNotFound: http.StatusNotFound,
	codeBadRequest:       http.StatusBadRequest,
	codeLimitExceeded:    http.StatusTooManyRequests,
}

// Error is an MLflow API error: the body {"error_code": Code, "message": Message}.
type Error struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
	status  int
}

// Error returns "CODE: message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of the error (MLflow's mapping of its code).
func (e *Error) Status() int {
	if e.status != 0 {
		return e.status
	}
	if s, ok := codeStatus[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid is an INVALID_PARAMETER_VALUE error.
func invalid(format string, args ...any) *Error {
	return newError(codeInvalidParameter, format, args...)
}

// notFound is a RESOURCE_DOES_NOT_EXIST error.
func notFound(format string, args ...any) *Error {
	return newError(codeNotFound, format, args...)
}

// missing is the INVALID_PARAMETER_VALUE error of a required field left out.
func missing(field string) *Error {
	return invalid("Missing value for required parameter '%s'.", field)
}

// alreadyExists turns a registry conflict (a name that is taken) into
// RESOURCE_ALREADY_EXISTS; other errors pass unchanged.
func alreadyExists(err error) error {
	if errors.Is(err, registry.ErrConflict) {
		return &Error{Code: codeAlreadyExists, Message: err.Error()}
	}
	return err
}

// classify turns any handler or middleware error into an MLflow error.
func classify(err error) *Error {
	var me *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &me):
		return me
	case errors.Is(err, registry.ErrNotFound):
		return &Error{Code: codeNotFound, Message: err.Error()}
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, registry.ErrConflict):
		return &Error{Code: codeInvalidParameter, Message: err.Error()}
	case errors.As(err, &he):
		msg := fmt.Sprint(he.Message)
		switch {
		case he.Code == http.StatusUnauthorized:
			return &Error{Code: codeUnauthenticated, Message: msg}
		case he.Code == http.StatusForbidden:
			return &Error{Code: codePermissionDenied, Message: msg}
		case he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed:
			return &Error{Code: codeEndpointNotFound, Message: msg, status: he.Code}
		case he.Code == http.StatusRequestEntityTooLarge:
			return &Error{Code: codeInvalidParameter, Message: msg, status: he.Code}
		case he.Code == http.StatusTooManyRequests:
			return &Error{Code: codeLimitExceeded, Message: msg}
		case he.Code < 500:
			return &Error{Code: codeBadRequest, Message: msg, status: he.Code}
		}
		return &Error{Code: codeInternal, Message: msg, status: he.Code}
	}
	return &Error{Code: codeInternal, Message: err.Error()}
}

// errorsMiddleware answers every error of the handlers and of the middleware
// after it (authentication included) in MLflow's shape, so MLflow clients see
// the error codes they branch on; 5xx errors are logged.
func (a *api) errorsMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		me := classify(err)
		if me.Status() >= 500 {
			a.log.Error("mlflow request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
		if c.Request().Method == http.MethodHead {
			return c.NoContent(me.Status())
		}
		return c.JSON(me.Status(), me)
	}
}
