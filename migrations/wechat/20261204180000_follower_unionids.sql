-- One view of a follower across every Service Account (issue #20). One file for SQLite and
-- PostgreSQL, like the others.

-- What WeChat's `/cgi-bin/user/info` said of a follower of one account: the unionid, or none
-- (NULL: not bound to the Open Platform, asked again after a while). Kept so the agents' view
-- does not ask WeChat on every load.
CREATE TABLE follower_unionids (
    account TEXT NOT NULL,
    openid TEXT NOT NULL,
    unionid TEXT,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (account, openid)
);
