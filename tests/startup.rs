//! Start-up refuses databases it must not touch.

mod common;

use common::{Backend, TestDb};
use pebble::startup;

async fn sqlite_file_with(sql: &str) -> (TestDb, std::path::PathBuf) {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let path = db.data_dir().join("pebble.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.close().await;
    (db, path)
}

#[tokio::test]
async fn a_database_that_is_not_pebbles_is_refused_and_left_untouched() {
    let (db, path) = sqlite_file_with("create table invoices (id integer primary key, amount integer); insert into invoices values (1, 500);").await;
    let before = std::fs::read(&path).unwrap();
    let err = startup::open_database(&db.settings()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("is not a Pebble database"),
        "{err:#}"
    );
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the foreign file was modified"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let path = db.data_dir().join("pebble.db");
    let junk = b"this is a spreadsheet, not a database\n".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let err = startup::open_database(&db.settings()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not a Pebble database"),
        "{err:#}"
    );
    assert!(
        std::fs::read(&path).unwrap() == junk,
        "the foreign file was modified"
    );
}

story!(
    a_schema_newer_than_this_build_is_refused,
    |b: Backend| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        let opened = startup::open_database(&db.settings()).await.unwrap();
        let sql = "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
               values (99990101000000, 'from the future', true, $1, 1)";
        match &opened {
            pebble::store::Db::Sqlite(p) => sqlx::query(sql)
                .bind(vec![0u8; 48])
                .execute(p)
                .await
                .map(|_| ()),
            pebble::store::Db::Postgres(p) => sqlx::query(sql)
                .bind(vec![0u8; 48])
                .execute(p)
                .await
                .map(|_| ()),
        }
        .unwrap();
        opened.close().await;
        let err = startup::open_database(&db.settings()).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("newer than this Pebble"),
            "{err:#}"
        );
    }
);

story!(
    migrations_are_idempotent_across_restarts,
    |b: Backend| async move {
        let Some(db) = TestDb::new(b).await else {
            return;
        };
        for _ in 0..3 {
            let opened = startup::open_database(&db.settings()).await.unwrap();
            opened.check_ready().await.unwrap();
            assert_eq!(
                opened.applied_schema_version().await.unwrap(),
                opened.known_schema_version()
            );
            opened.close().await;
        }
    }
);
