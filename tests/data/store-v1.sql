-- A store as tend's schema 1 wrote it: c1 paid at 2026-12-03 10:00 (+08:00),
-- the thank-you is queued, and c1 waits until the next day for the follow-up.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    state TEXT,                 -- NULL until the customer's first work is done
    next_wake INTEGER,
    advanced_to INTEGER,
    lease_until INTEGER,
    dnc INTEGER NOT NULL DEFAULT 0,
    quarantined TEXT            -- why its work stopped; NULL when it runs
);
CREATE INDEX IF NOT EXISTS customers_due ON customers (next_wake) WHERE next_wake IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    customer TEXT NOT NULL,
    at INTEGER NOT NULL,
    body TEXT NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_waiting ON events (customer, at, seq) WHERE handled = 0;
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    customer TEXT,
    playbook TEXT NOT NULL,
    channel TEXT NOT NULL,
    due INTEGER NOT NULL,
    delivery TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    quiet TEXT NOT NULL DEFAULT '',
    reply TEXT,
    updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    customer TEXT,
    playbook TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_opt_outs (hash TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS versions (
    playbook TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (playbook, version)
);

INSERT INTO meta VALUES('schema','1');
INSERT INTO meta VALUES('salt','62e09b3e4a620652b6676795795da7bf');
INSERT INTO customers VALUES('c1','{"format":1,"id":"c1","attrs":{"name":"c1"},"ledger":[{"t":1796263200,"p":"thanks","c":"wecom"}],"enrollments":[{"playbook":"thanks","version":"6e8fbc74ec549d67","n":1,"entered":1796263200,"event":{"order_id":"A1"},"flows":[{"cursor":{"step":"thank","idx":2},"wait":{"until":1796349600}}],"occurrences":{"thank/0":1},"reached":[1]}]}',1796349600,1796263200,NULL,0,NULL);
INSERT INTO events VALUES('p-c1',1,'c1',1796263200,'{"name":"order.paid","data":{"order_id":"A1"},"attributes":{"name":"c1"}}',1);
INSERT INTO outbox VALUES('4453c9bf016fc3ce0f1bfbe4ac34ec44','c1','thanks','wecom',1796263200,'{"at":"2026-12-03T02:00:00Z","customer":"c1","playbook":"thanks","version":"6e8fbc74ec549d67","enrollment":1,"step":"thank","channel":"wecom","touchpoint":"wecom","template":"thanks","variant":null,"text":"c1，订单 A1 收到啦","deferred_from":null,"reason":null,"site":"thank/0","plant":0,"occurrence":0,"extra":null}','pending',0,1796263200,'',NULL,1796263200);
INSERT INTO records VALUES(1,1796263200,'c1','thanks','entered','');
INSERT INTO versions VALUES('thanks','6e8fbc74ec549d67',replace('tend playbook slice 1\ncustomer.name: string\nevent order.paid: { order_id: string }\n---\ntemplate later {\n  text "{{ customer.name }}，用得还好吗？"\n}\n\ntemplate thanks {\n  text "{{ customer.name }}，订单 {{ event.order_id }} 收到啦"\n}\n\nplaybook thanks {\n  trigger event order.paid\n\n  step thank {\n    send wecom thanks\n    wait 1d\n    send wecom later\n  }\n}\n\n','\n',char(10)));
