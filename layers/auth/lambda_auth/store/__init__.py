"""The DynamoDB table: one table, its items told apart by their string key `pk`.

- `user#<id>`      the profile /auth/me returns: id, email, name, created_at (`users`);
- `email#<email>`  the credentials login reads: the user's id and password hash (`users`);
- `counter#user`   the last user id handed out (`users`);
- `limit#...`      attempt counters for the brute-force limits, each expiring by TTL (`attempts`).

`table` is where the models learn the table's name and how every call to it is bounded.
"""
