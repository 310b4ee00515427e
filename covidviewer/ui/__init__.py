"""All Qt lives here."""

