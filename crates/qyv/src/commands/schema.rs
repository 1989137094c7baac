use anyhow::Result;

pub fn schema() -> Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&qyvol_manifest::json_schema())?
    );
    Ok(0)
}
