"""The DynamoDB table: one table, its items told apart by their string key `pk` (see `layout`).

`table` is where the models learn the table's name, share one connection, and have every
call bounded; `users`, `attempts`, `sessions` and `resets` hold the items of each kind.
"""
