package jsstore

// FailMigrationAt makes s's migrations fail with err at step
// ("published" or "removed") for the messages pick chooses.
func (s *Store) FailMigrationAt(step string, pick func(id string) bool, err error) {
	s.failAt = func(st, id string) error {
		if st == step && pick(id) {
			return err
		}
		return nil
	}
}
