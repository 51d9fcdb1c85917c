package asitest

// Login is one seeded account.
type Login struct {
	Username string
	Password string
	// ID is the manager's or athlete's id (not the user id).
	ID int64
}

// Credentials are what a client needs to use the emulator: the OAuth client
// and the seeded accounts, managers first.
type Credentials struct {
	BaseURL      string
	ClientID     string
	ClientSecret string
	Managers     []Login
	Athletes     []Login
}

// Credentials returns the OAuth client and every seeded account.
func (s *Server) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Credentials{BaseURL: s.url, ClientID: ClientID, ClientSecret: ClientSecret}
	for _, id := range sortedIDs(s.w.managers) {
		m := s.w.managers[id]
		c.Managers = append(c.Managers, Login{Username: m.User.Username, Password: m.User.Password, ID: m.ID})
	}
	for _, id := range sortedIDs(s.w.athletes) {
		a := s.w.athletes[id]
		c.Athletes = append(c.Athletes, Login{Username: a.User.Username, Password: a.User.Password, ID: a.ID})
	}
	return c
}
