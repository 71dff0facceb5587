"""What HTTP needs below the routes: authentication and the session cookie."""
