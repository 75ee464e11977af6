return { loaded_at = "init" }
