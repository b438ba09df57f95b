package flows

import (
	"context"
	"errors"
	"fmt"

	"driftd/registry"
)

// Approve promotes a challenger that a retrain in manual promotion mode
// left waiting: version must hold the alias "challenger"; it is deployed to
// environment with reason (an audited deploy) and the alias is removed. It
// returns an error wrapping registry.ErrConflict when version is not the
// waiting challenger, and the registry's errors otherwise.
func Approve(ctx context.Context, s *registry.Store, model, version, environment, reason string) error {
	cur, err := s.AliasVersion(ctx, model, ChallengerAlias)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("approve %s %s: no challenger of %s waits for approval: %w", model, version, model, registry.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("approve %s %s: %w", model, version, err)
	}
	if cur.Version != version {
		return fmt.Errorf("approve %s %s: the challenger waiting for approval is %s, not %s: %w", model, version, cur.Version, version, registry.ErrConflict)
	}
	if err := s.Deploy(ctx, model, version, environment, reason); err != nil {
		return fmt.Errorf("approve %s %s: %w", model, version, err)
	}
	if err := s.DeleteAlias(ctx, model, ChallengerAlias, reason); err != nil {
		return fmt.Errorf("approve %s %s: deployed, but the challenger alias stays: %w", model, version, err)
	}
	return nil
}
