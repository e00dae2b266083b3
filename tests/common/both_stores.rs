//! Running one test body on both stores.

/// Two tests of `$f(db_url: &str)`: `$sqlite` on a fresh SQLite file, `$pg` on a fresh
/// Postgres database; for each `$sqlite, $pg, $f;` given, so that a file lists its tests in
/// one place. The names are given whole: the suite's tests are named `…_on_sqlite` and
/// `…_on_postgres`, and a declarative macro cannot paste identifiers.
#[macro_export]
macro_rules! on_both_stores {
    ($($sqlite:ident, $pg:ident, $f:ident);+ $(;)?) => {
        $(
            #[tokio::test]
            async fn $sqlite() {
                let (_dir, url) = $crate::common::temp_sqlite();
                $f(&url).await;
            }
            #[tokio::test]
            async fn $pg() {
                $f(&$crate::common::fresh_pg_url().await).await;
            }
        )+
    };
}
